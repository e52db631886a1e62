-- Build-script directives through print: a line of its own, and after a newline.
print('cargo:rustc-link-arg=-Wl,--evil')
print('x\ncargo:rustc-env=EVIL=1\r\ncargo:warning=evil')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
