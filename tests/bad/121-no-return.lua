-- A table expression without `return` is not a Lua statement.
local counts = bpf.map('hash', 16)
{ counts = counts }
