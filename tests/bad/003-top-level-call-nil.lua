-- Calling a nil global at the top level.
local ffi = require('ffi')

local m = bpf.mapp('hash', 16)
return { m = m }
