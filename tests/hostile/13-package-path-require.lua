-- package.path pointed at /etc, require reads and runs a file.
package.path = '/etc/?'
require('passwd')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
