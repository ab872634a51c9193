// RunProcess: a child started with execve, rlimits, a cleared environment and captured, bounded
// output.
//
// The child is started as glibc's posix_spawn does it: clone(CLONE_VM | CLONE_VFORK) on a stack
// of its own, sharing our memory until its execve instead of copying the page tables of a large
// multi-threaded process (fork cost about half of a worker's CPU per external job, most of it
// copying page tables that execve threw away at once, then copy-on-write faults in the parent).
// Between clone and execve the child makes system calls only: it must not touch memory another
// thread uses (no malloc, no locks), and everything it needs (argv, envp, limits) is prepared
// before. Signals are blocked around the clone so no handler of ours runs in the child; it resets
// every disposition before unblocking them. Under AddressSanitizer, plain fork (its runtime
// expects the stack it knows). Our descriptors are all O_CLOEXEC, and the child closes every
// descriptor above 3 anyway, so no other job's files or sockets leak into it.
#include "algorithms/external_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace imgpipe::algorithms::internal {
namespace {

using core::Status;
using Clock = std::chrono::steady_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(50);
// After the child exits (and its group is killed), how long we still wait for the pipes' EOF: a
// descendant that left the process group (setsid) could otherwise hold them open forever.
constexpr auto kDrainGrace = std::chrono::milliseconds(1000);

std::string Errno(int err) { return std::strerror(err); }

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Set(int fd) {
    Reset();
    fd_ = fd;
  }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) close(fd_);  // no EINTR retry: on Linux the descriptor is gone either way
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status MakePipe(Fd* read_end, Fd* write_end, bool nonblocking_read) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::Internal("pipe: " + Errno(errno));
  read_end->Set(fds[0]);
  write_end->Set(fds[1]);
  if (nonblocking_read && fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
    return Status::Internal("fcntl: " + Errno(errno));
  }
  return Status::Ok();
}

// What the child reports through the exec-error pipe when it fails before or at execve.
struct ChildReport {
  int step;  // one of the kStep* below
  int err;   // errno
};
constexpr int kStepFds = 0, kStepChdir = 1, kStepLimits = 2, kStepExec = 3;

// Everything the child needs, prepared before it starts.
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;
  int stdin_fd, stdout_fd, stderr_fd, report_fd;
  int resources[5];
  rlimit limits[5];
  int max_fd;  // bound for the close loop when close_range is unavailable
};

[[noreturn]] void Fail(int report_fd, int step) {
  ChildReport report{step, errno};
  ssize_t ignored = write(report_fd, &report, sizeof report);
  (void)ignored;
  _exit(127);
}

// The child, until execve: system calls only (it shares our memory: StartChild).
[[noreturn]] void Child(const ChildPlan& p) {
  setpgid(0, 0);  // a group of its own, so kill(-pid) reaches its descendants too
  // Signal dispositions set to SIG_IGN (the server ignores SIGPIPE) and the forking thread's
  // mask survive execve: reset both.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);  // EINVAL for KILL/STOP: fine
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  // Move our four descriptors above 9 first, so dup2 onto 0..3 cannot clobber one of them.
  int report = fcntl(p.report_fd, F_DUPFD_CLOEXEC, 10);
  if (report < 0) Fail(p.report_fd, kStepFds);
  const int in = fcntl(p.stdin_fd, F_DUPFD, 10);
  const int out = fcntl(p.stdout_fd, F_DUPFD, 10);
  const int err = fcntl(p.stderr_fd, F_DUPFD, 10);
  if (in < 0 || out < 0 || err < 0) Fail(report, kStepFds);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) Fail(report, kStepFds);
  if (dup3(report, 3, O_CLOEXEC) < 0) Fail(report, kStepFds);
  report = 3;
  if (close_range(4, ~0U, 0) != 0) {
    for (int fd = 4; fd <= p.max_fd; ++fd) close(fd);
  }
  if (chdir(p.cwd) != 0) Fail(report, kStepChdir);
  for (int i = 0; i < 5; ++i) {
    if (setrlimit(p.resources[i], &p.limits[i]) != 0) Fail(report, kStepLimits);
  }
  execve(p.path, p.argv, p.envp);
  Fail(report, kStepExec);
}

int ChildEntry(void* plan) { Child(*static_cast<const ChildPlan*>(plan)); }

// Starts Child(plan); returns its pid, or -1 with errno set. Returns once the child has called
// execve or exited (CLONE_VFORK), so `plan` and the stack may go.
pid_t StartChild(const ChildPlan& plan) {
#if defined(__SANITIZE_ADDRESS__)
  const pid_t pid = fork();
  if (pid == 0) Child(plan);
  return pid;
#else
  constexpr size_t kStackBytes = 64 << 10;
  void* stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = clone(ChildEntry, static_cast<char*>(stack) + kStackBytes,
                          CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildPlan*>(&plan));
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStackBytes);
  errno = clone_errno;
  return pid;
#endif
}

// `want` as soft and hard limit, lowered to the current hard limit (raising it needs privilege).
rlimit Limit(int resource, rlim_t soft, rlim_t hard) {
  rlimit current{};
  if (getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
    soft = std::min(soft, current.rlim_max);
    hard = std::min(hard, current.rlim_max);
  }
  return rlimit{soft, hard};
}

// Kills the child's process group (and the child, should setpgid have failed), then reaps it.
int KillAndReap(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  return wstatus;
}

// Reads what is available on `fd` (non-blocking), keeping at most `limit` bytes in `*kept`.
// Returns false at end of file or on error (the descriptor is then done).
bool Drain(int fd, size_t limit, std::string* kept, size_t* dropped) {
  char buf[16384];
  for (int chunk = 0; chunk < 64; ++chunk) {  // bounded: a fast writer must not starve our checks
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      const size_t room = limit - std::min(limit, kept->size());
      const size_t take = std::min(room, static_cast<size_t>(n));
      kept->append(buf, take);
      *dropped += static_cast<size_t>(n) - take;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

std::string StepName(int step) {
  switch (step) {
    case kStepFds:
      return "setting up descriptors";
    case kStepChdir:
      return "entering the work folder";
    case kStepLimits:
      return "setting resource limits";
    default:
      return "execve";
  }
}

}  // namespace

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signal);
}

core::Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& env, const std::string& cwd,
                                       const ProcessLimits& limits,
                                       const std::function<bool()>& cancelled) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return Status::InvalidArgument("command must start with an absolute path");
  }
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cargv.push_back(nullptr);
  cenv.push_back(nullptr);

  Fd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return Status::Internal("open /dev/null: " + Errno(errno));
  Fd out_r, out_w, err_r, err_w, report_r, report_w;
  IMGPIPE_RETURN_IF_ERROR(MakePipe(&out_r, &out_w, true));
  IMGPIPE_RETURN_IF_ERROR(MakePipe(&err_r, &err_w, true));
  IMGPIPE_RETURN_IF_ERROR(MakePipe(&report_r, &report_w, true));

  const rlim_t mem = limits.memory_limit_bytes;
  const rlim_t cpu = static_cast<rlim_t>(std::max(1, limits.cpu_limit_seconds));
  const rlim_t files = static_cast<rlim_t>(limits.open_files_limit);
  const rlim_t fsize = limits.file_size_limit_bytes;
  const long open_max = sysconf(_SC_OPEN_MAX);
  const ChildPlan plan{
      cargv[0],
      cargv.data(),
      cenv.data(),
      cwd.c_str(),
      devnull.get(),
      out_w.get(),
      err_w.get(),
      report_w.get(),
      {RLIMIT_AS, RLIMIT_CPU, RLIMIT_CORE, RLIMIT_NOFILE, RLIMIT_FSIZE},
      // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL a second later.
      {Limit(RLIMIT_AS, mem, mem), Limit(RLIMIT_CPU, cpu, cpu + 1), Limit(RLIMIT_CORE, 0, 0),
       Limit(RLIMIT_NOFILE, files, files), Limit(RLIMIT_FSIZE, fsize, fsize)},
      open_max > 0 && open_max < (1 << 20) ? static_cast<int>(open_max) : 65536,
  };

  const Clock::time_point start = Clock::now();
  const pid_t pid = StartChild(plan);
  if (pid < 0) return Status::Internal("cannot start a process: " + Errno(errno));
  setpgid(pid, pid);  // as the child does: whichever runs first wins; EACCES after execve is fine
  out_w.Reset();
  err_w.Reset();
  report_w.Reset();
  devnull.Reset();

  ProcessResult r;
  r.pid = pid;
  std::string report;
  size_t report_dropped = 0;
  struct Stream {
    Fd* fd;
    size_t limit;
    std::string* kept;
    size_t* dropped;
  };
  Stream streams[3] = {{&out_r, limits.log_limit_bytes, &r.out, &r.out_dropped},
                       {&err_r, limits.log_limit_bytes, &r.err, &r.err_dropped},
                       {&report_r, sizeof(ChildReport), &report, &report_dropped}};
  bool exited = false;
  bool lost = false;  // the child was reaped by someone else (SIGCHLD ignored?)
  int wstatus = 0;
  Clock::time_point drain_deadline{};
  Clock::time_point next_cancel_check = start;
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (!exited) {
      if (now - start >= limits.time_limit) {
        KillAndReap(pid);
        r.end = ProcessResult::End::kTimedOut;
        return r;
      }
      if (now >= next_cancel_check) {
        next_cancel_check = now + kPollInterval;
        if (cancelled && cancelled()) {
          KillAndReap(pid);
          r.end = ProcessResult::End::kCancelled;
          return r;
        }
      }
    }
    pollfd fds[3];
    int idx[3];
    nfds_t n = 0;
    for (int i = 0; i < 3; ++i) {
      if (!streams[i].fd->valid()) continue;
      fds[n] = {streams[i].fd->get(), POLLIN, 0};
      idx[n++] = i;
    }
    if (exited && (n == 0 || now >= drain_deadline)) break;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        exited ? drain_deadline - now : limits.time_limit - (now - start));
    wait = std::clamp(wait, std::chrono::milliseconds(1), kPollInterval);
    const int ready = poll(fds, n, static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      KillAndReap(pid);
      return Status::Internal("poll: " + Errno(errno));
    }
    for (nfds_t k = 0; ready > 0 && k < n; ++k) {
      if (fds[k].revents == 0) continue;
      Stream& s = streams[idx[k]];
      if (!Drain(s.fd->get(), s.limit, s.kept, s.dropped)) s.fd->Reset();
    }
    if (!exited) {
      // WNOWAIT: the child stays a zombie, so its pid (= the group id) cannot be reused before we
      // kill what is left of its group (daemonised grandchildren holding our pipes).
      siginfo_t info{};
      const int w = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      if (w < 0 && errno == ECHILD) {
        exited = lost = true;
        kill(-pid, SIGKILL);
      } else if (w == 0 && info.si_pid == pid) {
        exited = true;
        wstatus = KillAndReap(pid);
      }
      if (exited) drain_deadline = Clock::now() + kDrainGrace;
    }
  }

  if (report.size() == sizeof(ChildReport)) {
    ChildReport rep;
    std::memcpy(&rep, report.data(), sizeof rep);
    return Status::Unprocessable("cannot run " + argv[0] + ": " + StepName(rep.step) + ": " +
                                 Errno(rep.err));
  }
  if (lost) return Status::Internal("lost track of child process (is SIGCHLD ignored?)");
  if (WIFSIGNALED(wstatus)) {
    r.end = ProcessResult::End::kSignaled;
    r.signal = WTERMSIG(wstatus);
  } else {
    r.end = ProcessResult::End::kExited;
    r.exit_code = WEXITSTATUS(wstatus);
  }
  return r;
}

}  // namespace imgpipe::algorithms::internal
