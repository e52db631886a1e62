-- A top level that allocates without bound fails at the memory limit, not the host. Large
-- distinct strings reach the limit in a fraction of the time limit even on a loaded machine
-- (distinct from their first byte: LuaJIT compares strings whose sampled hash collides).
local t = {}
for i = 1, 1e10 do t[i] = i .. string.rep('x', 2^26) end
return {}
