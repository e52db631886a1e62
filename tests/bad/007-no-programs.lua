-- A table with maps only: nothing to load.
local counts = bpf.map('hash', 16)
return { counts = counts }
