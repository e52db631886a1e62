-- A name with a line break must not become its own cargo: line.
return {
  ['x\ncargo:rustc-link-arg=-evil'] = bpf.socket(function (skb) return 0 end),
}
