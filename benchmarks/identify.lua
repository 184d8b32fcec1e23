-- wrk script: PUT /api/v1/customers/{id} with Basic auth; ids from a pool of 100,000.
local auth = os.getenv("BENCH_AUTH") or ""
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
if auth ~= "" then wrk.headers["Authorization"] = "Basic " .. auth end
local counter = 0
request = function()
  counter = counter + 1
  local id = math.random(1, 100000)
  local body = string.format('{"email":"user%d@example.com","plan":"pro","visits":%d}', id, counter)
  return wrk.format(nil, "/api/v1/customers/user" .. id, nil, body)
end
