-- An endless loop inside a coroutine (hooks did not fire there).
coroutine.wrap(function () while true do end end)()
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
