-- Tables that imitate the compiler's own declaration records.
local fake = { __ljbpf = 'program', kind = 'socket', fn = function () end, line = 1 }
local m = { __ljbpf = 'map', id = 1, kind = 'hash', line = 1 }
return { p = fake, m = m }
