-- httpmethods: counts HTTP requests per method, like the reference's HTTP filter example.
--
-- A socket filter on the interface the Rust side (src/bin/httpmethods.rs) binds it to. A TCP
-- segment over IPv4 whose payload starts with a method's first four bytes is a request (a
-- request line is sent first and, from a usual client, at the start of a segment). config[0]
-- is a server port to watch, or 0 for every port. methods[] is indexed by the constants below,
-- which the Rust side knows too.
local ffi = require('ffi')

local GET, POST, PUT, HEAD, DELETE = 0, 1, 2, 3, 4

local config = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local methods = bpf.map('array', 8, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))

return {
  config = config,
  methods = methods,
  http = bpf.socket(function (skb)
    local ip = pkt.ip
    local tcp = ip.tcp
    local data = tcp.data
    if ntoh(pkt.type) ~= c.eth.ip or ip.proto ~= c.ip.proto_tcp then return 0 end
    local port = config[0]
    if not port or (port ~= 0 and ntoh(tcp.dst_port) ~= port) then return 0 end
    -- A segment with less than 4 bytes of payload ends the program here (returning 0): a
    -- packet load past the end of the packet aborts a socket filter.
    local word = data(0, 4)
    local m
    if word == 'GET ' then m = GET
    elseif word == 'POST' then m = POST
    elseif word == 'PUT ' then m = PUT
    elseif word == 'HEAD' then m = HEAD
    elseif word == 'DELE' then m = DELETE
    else return 0 end
    xadd(methods[m], 1)
    return 0
  end),
}
