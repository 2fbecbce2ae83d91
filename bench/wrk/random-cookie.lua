-- wrk script: every request carries one cookie picked at random from the file given after `--`
-- (one `name=value` line per session), so each request is a returning visitor.
-- Prints one BENCH_JSON line at the end (latencies in microseconds).
local requests = {}
local count = 0

function init(args)
  local started = os.clock()
  local path = args[1]
  -- One formatted request per cookie, built around wrk's own formatting of a marker cookie.
  local template = wrk.format("GET", "/", { ["Cookie"] = "@@COOKIE@@" })
  local at = template:find("@@COOKIE@@", 1, true)
  local prefix, suffix = template:sub(1, at - 1), template:sub(at + #"@@COOKIE@@")
  for line in io.lines(path) do
    if #line > 0 then
      count = count + 1
      requests[count] = prefix .. line .. suffix
    end
  end
  if count == 0 then error("no cookies in " .. tostring(path)) end
  math.randomseed(os.time() + count)
  -- For the record only: wrk starts its clock after init (checked: 1M cookies, 3.5 s init, 3.0 s run).
  io.stderr:write(string.format("BENCH_INIT_US %d\n", (os.clock() - started) * 1e6))
end

function request()
  return requests[math.random(count)]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
