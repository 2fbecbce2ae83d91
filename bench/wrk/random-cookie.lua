-- wrk script: every request carries one cookie picked at random from the file given after `--`
-- (one `name=value` line per session), so each request is a returning visitor.
-- Prints one BENCH_JSON line at the end (see report.lua).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
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
