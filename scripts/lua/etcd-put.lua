-- wrk script: etcd v3 puts through its JSON gateway (POST /v3/kv/put, key
-- and value base64), one new key per request, the value a registration's
-- body, so that etcd stores what Roster's registrations carry.
-- Arguments (after --): a prefix unique to the run, the number of services.
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local function ch(k) return chars:sub(k + 1, k + 1) end
    out[#out + 1] = ch(math.floor(n / 262144)) .. ch(math.floor(n / 4096) % 64)
      .. (b and ch(math.floor(n / 64) % 64) or "=") .. (c and ch(n % 64) or "=")
  end
  return table.concat(out)
end

local prefix, services = "x", 100
local n = 0
local value = b64('{"address":"10.1.0.1","port":8080,"tags":["bench"],"ttl":"10m"}')

function init(args)
  prefix, services = args[1] or prefix, tonumber(args[2] or services)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  n = n + 1
  local key = "/services/bench-" .. (n % services) .. "/i-" .. prefix .. "-" .. n
  return wrk.format(nil, "/v3/kv/put", nil, '{"key":"' .. b64(key) .. '","value":"' .. value .. '"}')
end
