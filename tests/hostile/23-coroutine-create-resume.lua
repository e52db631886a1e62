-- coroutine.create/resume to run code outside the hook.
local co = coroutine.create(function () local n = 0 while true do n = n + 1 end end)
coroutine.resume(co)
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
