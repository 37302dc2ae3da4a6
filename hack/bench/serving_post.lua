-- wrk script: POST the body in the file named by BODY (read as bytes, so binary tensor bodies work),
-- with CONTENT_TYPE (default application/json) and, when set, the Inference-Header-Content-Length
-- of Triton's binary tensor extension (HEADER_LENGTH). DELAY_MS, when set, makes each connection
-- wait that long after every response (a paced run: wrk still times each request on its own).
-- Non-2xx responses are counted by wrk together with socket errors.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
local header_length = os.getenv("HEADER_LENGTH")
if header_length and header_length ~= "" then wrk.headers["Inference-Header-Content-Length"] = header_length end
local pause = tonumber(os.getenv("DELAY_MS") or "")
if pause then
  function delay() return pause end
end
