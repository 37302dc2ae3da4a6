-- wrk script: POST the JSON body in the file named by the BODY environment variable and count
-- non-2xx responses (wrk only reports socket errors and status >= 400 together).
local f = assert(io.open(os.getenv("BODY"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
