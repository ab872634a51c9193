-- wrk script for the ingest test: every DICOM file of a list is POSTed exactly once.
--
-- Usage: wrk -tT -cC -dD -s ingest.lua URL -- LIST_FILE POST_PATH T [BEARER_KEY]
--   LIST_FILE  one absolute file path per line; thread k (0-based) sends lines k, k+T, k+2T, ...
--   POST_PATH  e.g. /instances (Orthanc) or /pacs/images (imgpipe)
--   T          the same thread count as -t
--   BEARER_KEY optional; sent as `Authorization: Bearer KEY` with each POST
--
-- Once a thread has sent all its files it sends `GET /bench-ingest-exhausted` (a cheap 404 on
-- both servers) until wrk stops, so no file is sent twice. The rate is therefore computed here,
-- not from wrk's req/s: successful POSTs divided by the time from the first POST to the last
-- POST answer (the moment every thread finished its share when the list ran out, or the last
-- answer before wrk stopped). A monotonic clock comes from clock_gettime via LuaJIT's ffi.
-- done() prints one machine-readable line starting with "INGEST ".

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local SENTINEL = "/bench-ingest-exhausted"

-- Main-state bookkeeping: the thread objects, read back in done().
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local list, nthreads = args[1], tonumber(args[3])
  post_path = args[2]
  bodies = {}
  local i = 0
  for line in io.lines(list) do
    if line ~= "" then
      if i % nthreads == id then
        local f = assert(io.open(line, "rb"))
        bodies[#bodies + 1] = f:read("*a")
        f:close()
      end
      i = i + 1
    end
  end
  headers = { ["Content-Type"] = "application/dicom" }
  if args[4] and args[4] ~= "" then headers["Authorization"] = "Bearer " .. args[4] end
  sent, answered, ok, failed = 0, 0, 0, 0
  t_first, t_last, t_done = 0, 0, 0
  first_error = ""
  -- wrk calls request() once on thread 0's state to validate the script before the thread runs
  -- and discards the result; give that call a sentinel so no file is lost to it.
  validation_pending = (id == 0)
end

function request()
  if validation_pending then
    validation_pending = false
    return wrk.format("GET", SENTINEL)
  end
  if sent < #bodies then
    sent = sent + 1
    if t_first == 0 then t_first = now() end
    return wrk.format("POST", post_path, headers, bodies[sent])
  end
  return wrk.format("GET", SENTINEL)
end

function response(status, hdrs, body)
  -- The sentinel is the only request answered with 404; a POST answered 404 would be counted
  -- as sentinel traffic, which shows up as zero successful POSTs.
  if status == 404 then return end
  answered = answered + 1
  t_last = now()
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    failed = failed + 1
    if first_error == "" then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 160):gsub("%s+", " ")
    end
  end
  if answered == #bodies then t_done = t_last end
end

function done(summary, latency, requests)
  local start, finish = math.huge, 0
  local total_ok, total_failed, total_files, exhausted = 0, 0, 0, true
  local err = ""
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_failed = total_failed + t:get("failed")
    total_files = total_files + t:get("sent")
    local first = t:get("t_first")
    if first > 0 and first < start then start = first end
    local td = t:get("t_done")
    if td == 0 then
      exhausted = false
      td = t:get("t_last")
    end
    if td > finish then finish = td end
    if err == "" then err = t:get("first_error") end
  end
  local elapsed = finish - start
  local rate = 0
  if elapsed > 0 then rate = total_ok / elapsed end
  io.write(string.format(
    "INGEST ok=%d failed=%d sent=%d elapsed=%.3f rate=%.1f exhausted=%s first_error=%s\n",
    total_ok, total_failed, total_files, elapsed, rate, exhausted and "yes" or "no",
    err == "" and "-" or err))
end
