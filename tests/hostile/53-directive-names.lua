-- A newline in a map's name, to end a generated line early.
local m = bpf.map('hash', 16)
return { ['m\ncargo:rustc-env=EVIL=1'] = m, p = bpf.socket(function (skb) m[1] = 1 end) }
