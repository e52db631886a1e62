-- The file returns a number instead of a table.
local counts = bpf.map('hash', 16)
return 42
