-- A top level that allocates without bound fails at the memory limit, not the host.
local t = {}
for i = 1, 1e10 do t[i] = {i} end
return {}
