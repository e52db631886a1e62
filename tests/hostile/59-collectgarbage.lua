-- collectgarbage to stop the collector or change its pace, then allocate.
collectgarbage('stop')
collectgarbage('setpause', 1e9)
local t = {} for i = 1, 1e8 do t[i] = {} end
