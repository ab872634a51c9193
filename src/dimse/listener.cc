// The listener: binds the socket and accepts connections; a short-lived thread per connection
// waits (ACSE timeout) for its association request, which the accepting thread then hands to
// DCMTK and negotiates without ever blocking on a peer; each accepted association is served on a
// thread of its own.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "dcmtk/config/osconfig.h"  // first, as DCMTK requires
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/dcmnet/dulstruc.h"
#include "dimse/internal.h"
#include "dimse/scp_internal.h"
#include "spdlog/spdlog.h"

namespace imgpipe::dimse {
namespace {

using internal::ConditionText;
using internal::Metrics;
using internal::Trim;

// DCMTK reads the process-wide dcmExternalSocketHandle when a network is initialised (set, DCMTK
// creates no listening socket of its own, which would bind every interface: ours is installed in
// its place) and when an association is received (set, DCMTK takes that connection instead of
// accepting one: the connections this listener accepted itself). Set only under this mutex.
std::mutex g_network_init_mu;

// Reads DcmTransportConnection's protected socket handle (never instantiated).
struct SocketPeek : DcmTransportConnection {
  static DcmNativeSocketType Of(DcmTransportConnection* c) {
    return (c->*(&SocketPeek::getSocket))();
  }
};

// The socket of an association, for Stop to shut it down (-1 when unknown).
int SocketOf(T_ASC_Association* assoc) {
  if (assoc == nullptr || assoc->DULassociation == nullptr) return -1;
  auto* key = static_cast<PRIVATE_ASSOCIATIONKEY*>(assoc->DULassociation);
  return key->connection != nullptr ? SocketPeek::Of(key->connection) : -1;
}

}  // namespace

struct Listener::Impl {
  explicit Impl(ListenerOptions o) : options(std::move(o)) {}

  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
    T_ASC_Association* assoc = nullptr;  // GUARDED_BY(mu); null once the worker is finishing
  };

  ListenerOptions options;
  T_ASC_Network* net = nullptr;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  bool started = false;
  std::mutex mu;
  std::list<std::unique_ptr<Worker>> workers;  // GUARDED_BY(mu)
  // Connections waiting for their association request, each on a thread of its own (a Worker
  // without an association), and those whose request has arrived, for the accepting thread.
  std::list<std::unique_ptr<Worker>> waiting;  // GUARDED_BY(mu)
  std::vector<int> ready;                      // GUARDED_BY(mu)

  core::Result<int> Bind();
  void AcceptLoop();
  void AcceptConnection();
  void WaitForRequest(Worker* w, int fd);
  void ReceiveOn(int fd);
  void Reap(bool all);
};

core::Result<int> Listener::Impl::Bind() {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(options.port);
  if (int rc = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return core::Status::InvalidArgument("dicom listen host \"" + options.host +
                                         "\": " + ::gai_strerror(rc));
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = ::bind(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 || ::listen(fd, 64) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return core::Status::Unavailable("dicom listen " + options.host + ":" + port + ": " + why);
  }
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  listen_fd = fd;
  return static_cast<int>(ntohs(bound.sin_port));
}

Listener::Listener(ListenerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Listener::~Listener() { Stop(); }

core::Result<int> Listener::Start() {
  Impl& d = *impl_;
  if (d.started) return core::Status::Conflict("dicom listener already started");
  IMGPIPE_RETURN_IF_ERROR(ValidateAeTitle(d.options.ae_title));
  for (const std::string& aet : d.options.allowed_calling_aets) {
    IMGPIPE_RETURN_IF_ERROR(ValidateAeTitle(aet, "allowed calling AE title"));
  }
  if (d.options.port < 0 || d.options.port > 65535) {
    return core::Status::InvalidArgument("dicom listen port must be in 0..65535");
  }
  if (d.options.max_associations < 1) {
    return core::Status::InvalidArgument("dicom max associations must be at least 1");
  }
  if (!d.options.on_store) return core::Status::InvalidArgument("dicom listener needs on_store");
  internal::InitializeDcmtk();
  IMGPIPE_ASSIGN_OR_RETURN(int port, d.Bind());
  {
    std::lock_guard lock(g_network_init_mu);
    DcmNativeSocketType saved = dcmExternalSocketHandle.get();
    dcmExternalSocketHandle.set(d.listen_fd);
    OFCondition cond = ASC_initializeNetwork(
        NET_ACCEPTOR, port, internal::TimeoutSeconds(d.options.acse_timeout), &d.net);
    dcmExternalSocketHandle.set(saved);
    if (cond.bad()) {
      ::close(d.listen_fd);
      d.listen_fd = -1;
      return core::Status::Internal("dicom network: " + ConditionText(cond));
    }
  }
  auto* key = static_cast<PRIVATE_NETWORKKEY*>(d.net->network);
  key->networkSpecific.TCP.listenSocket = d.listen_fd;
  key->networkSpecific.TCP.port = port;
  if (::pipe2(d.wake, O_CLOEXEC | O_NONBLOCK) != 0)
    return core::Status::Internal("dicom listener: pipe");
  d.started = true;
  d.accept_thread = std::thread([&d] { d.AcceptLoop(); });
  spdlog::info("dicom: listening on {}:{} as AE {}", d.options.host, port, d.options.ae_title);
  return port;
}

void Listener::Stop() {
  Impl& d = *impl_;
  if (!d.started || d.stopping.exchange(true)) return;
  char byte = 1;
  (void)!::write(d.wake[1], &byte, 1);
  if (d.accept_thread.joinable()) d.accept_thread.join();
  {
    // Wake every association blocked in a read: its thread then aborts and ends.
    std::lock_guard lock(d.mu);
    for (auto& w : d.workers) {
      int fd = SocketOf(w->assoc);
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
  }
  d.Reap(/*all=*/true);
  for (int fd : d.ready) ::close(fd);
  d.ready.clear();
  auto* key = static_cast<PRIVATE_NETWORKKEY*>(d.net->network);
  key->networkSpecific.TCP.listenSocket = -1;
  ::close(d.listen_fd);
  ASC_dropNetwork(&d.net);
  ::close(d.wake[0]);
  ::close(d.wake[1]);
}

void Listener::Impl::Reap(bool all) {
  std::list<std::unique_ptr<Worker>> finished;
  {
    std::lock_guard lock(mu);
    for (auto* list : {&workers, &waiting}) {
      for (auto it = list->begin(); it != list->end();) {
        if (all || (*it)->done.load()) {
          finished.push_back(std::move(*it));
          it = list->erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  for (auto& w : finished) w->thread.join();
}

void Listener::Impl::AcceptLoop() {
  while (!stopping.load()) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
    int n = ::poll(fds, 2, 1000);
    if (n > 0 && (fds[1].revents & POLLIN)) {
      char drain[64];
      while (::read(wake[0], drain, sizeof(drain)) > 0) {
      }
    }
    Reap(/*all=*/false);
    if (stopping.load()) break;
    if (n > 0 && (fds[0].revents & POLLIN)) AcceptConnection();
    std::vector<int> arrived;
    {
      std::lock_guard lock(mu);
      arrived.swap(ready);
    }
    for (int fd : arrived) {
      if (stopping.load()) {
        ::close(fd);
      } else {
        ReceiveOn(fd);
      }
    }
  }
}

void Listener::Impl::AcceptConnection() {
  int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  std::lock_guard lock(mu);
  size_t pending = 0;
  for (const auto& w : waiting) pending += w->done.load() ? 0 : 1;
  // Connections that have not yet sent their request are bounded too.
  if (pending >= static_cast<size_t>(options.max_associations) * 2) {
    ::close(fd);
    Metrics().associations_rejected.Inc();
    spdlog::warn("dicom: connection refused: {} connections still negotiating", pending);
    return;
  }
  auto waiter = std::make_unique<Worker>();
  Worker* w = waiter.get();
  waiting.push_back(std::move(waiter));
  w->thread = std::thread([this, w, fd] { WaitForRequest(w, fd); });
}

void Listener::Impl::WaitForRequest(Worker* w, int fd) {
  auto outcome = internal::WaitForAssociateRequest(fd, options.acse_timeout, stopping);
  if (outcome == internal::RequestWait::kReady) {
    {
      std::lock_guard lock(mu);
      ready.push_back(fd);
    }
    char byte = 1;
    (void)!::write(wake[1], &byte, 1);
  } else {
    ::close(fd);
    if (outcome != internal::RequestWait::kStopped) {
      Metrics().associations_rejected.Inc();
      spdlog::warn("dicom: connection dropped: {}", outcome == internal::RequestWait::kClosed
                                                        ? "closed before an association request"
                                                        : "no association request in time");
    }
  }
  w->done.store(true);
}

void Listener::Impl::ReceiveOn(int fd) {
  T_ASC_Association* assoc = nullptr;
  OFCondition cond;
  {
    // The request is buffered already (WaitForRequest): DCMTK reads it from `fd` at once.
    std::lock_guard lock(g_network_init_mu);
    DcmNativeSocketType saved = dcmExternalSocketHandle.get();
    dcmExternalSocketHandle.set(fd);
    cond = ASC_receiveAssociation(net, &assoc, ASC_DEFAULTMAXPDU, nullptr, nullptr, OFFalse,
                                  DUL_BLOCK, 0);
    dcmExternalSocketHandle.set(saved);
  }
  PeerContext peer;
  if (assoc != nullptr && assoc->params != nullptr) {
    peer.peer_address = assoc->params->DULparams.callingPresentationAddress;
    peer.calling_aet = Trim(assoc->params->DULparams.callingAPTitle);
  }
  if (cond.bad()) {
    Metrics().associations_rejected.Inc();
    spdlog::warn("dicom: bad association request from {}: {}",
                 peer.peer_address.empty() ? "?" : peer.peer_address, ConditionText(cond));
    if (assoc != nullptr) {
      ASC_dropAssociation(assoc);
      ASC_destroyAssociation(&assoc);
    }
    return;
  }
  size_t active = 0;
  {
    std::lock_guard lock(mu);
    for (const auto& w : workers) active += w->done.load() ? 0 : 1;
  }
  if (!internal::Negotiate(options, assoc, peer, active)) {
    Metrics().associations_rejected.Inc();
    ASC_dropAssociation(assoc);
    ASC_destroyAssociation(&assoc);
    return;
  }
  cond = ASC_acknowledgeAssociation(assoc);
  if (cond.bad()) {
    Metrics().associations_rejected.Inc();
    spdlog::warn("dicom: acknowledging the association from {} failed: {}", peer.peer_address,
                 ConditionText(cond));
    ASC_dropAssociation(assoc);
    ASC_destroyAssociation(&assoc);
    return;
  }
  Metrics().associations_accepted.Inc();
  Metrics().active_associations.Add(1);
  auto worker = std::make_unique<Worker>();
  Worker* w = worker.get();
  w->assoc = assoc;
  std::lock_guard lock(mu);
  workers.push_back(std::move(worker));
  w->thread = std::thread([this, w, assoc, peer] {
    internal::ServeAssociation(options, assoc, peer, stopping);
    {
      std::lock_guard lock(mu);
      w->assoc = nullptr;
    }
    T_ASC_Association* a = assoc;
    ASC_dropSCPAssociation(a);
    ASC_destroyAssociation(&a);
    Metrics().active_associations.Add(-1);
    w->done.store(true);
  });
}

}  // namespace imgpipe::dimse
