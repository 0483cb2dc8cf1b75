-- wrk script: Roster registrations (PUT /v1/services/{service}/instances/{id}),
-- one new instance per request, spread over a number of services or all in
-- one. Arguments (after --): a prefix unique to the run (ids must be new:
-- registering the same data again is no write), the number of services
-- (1: all into the service named by the third argument), the service name
-- (or its prefix, "bench" giving bench-0, bench-1, ...). WRK_DELAY_MS in the
-- environment paces each connection: it waits that long before each request
-- (64 connections at 15 ms: about 3,500/s at most), for rounds below the
-- cluster's limit.
local prefix, services, name = "x", 100, "bench"
local n = 0

function init(args)
  prefix, services, name = args[1] or prefix, tonumber(args[2] or services), args[3] or name
end

wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"address":"10.1.0.1","port":8080,"tags":["bench"],"ttl":"10m"}'

local pause = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pause then
  function delay() return pause end
end

function request()
  n = n + 1
  local svc = name
  if services > 1 then svc = name .. "-" .. (n % services) end
  return wrk.format(nil, "/v1/services/" .. svc .. "/instances/i-" .. prefix .. "-" .. n)
end
