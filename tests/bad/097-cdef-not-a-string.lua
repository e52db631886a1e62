-- ffi.cdef takes a string of C declarations.
local ffi = require('ffi')
ffi.cdef(42)
return {}
