-- jit.on would let a top-level loop escape the time limit (compiled code skips the hook).
jit.on()
local n = 0
while true do n = n + 1 end
