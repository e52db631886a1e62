-- A top level that allocates without bound fails at the memory limit, not the host. Large
-- distinct strings reach the limit in a fraction of the time limit even on a loaded machine.
local t = {}
for i = 1, 1e10 do t[i] = string.rep('x', 2^24) .. i end
return {}
