-- wrk script for a fixed request: no cookie (new visitors) or one `-H "Cookie: ..."` shared by
-- every connection (one hot session). Prints one BENCH_JSON line at the end (see report.lua).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
