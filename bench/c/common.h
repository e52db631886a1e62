/* Shared by the C twins: libbpf-style maps and the LD_ABS/LD_IND packet loads that ljbpf's
 * socket filters use (the llvm.bpf.load.* builtins; half and word come back in host order). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

#define MAP(name, T, K, V, N)                                                                  \
  struct {                                                                                     \
    __uint(type, T);                                                                           \
    __uint(max_entries, N);                                                                    \
    __type(key, K);                                                                            \
    __type(value, V);                                                                          \
  } name SEC(".maps")

/* Lua's floored % on numbers (signed 64-bit), m > 0, without signed division (BPF ISA v3). */
static __always_inline long lmod(long x, long m) {
  long s = x >> 63;
  unsigned long ax = (unsigned long)((x ^ s) - s);
  long r = (long)(ax % (unsigned long)m);
  r = (r ^ s) - s;
  if (r < 0) r += m;
  return r;
}
/* Lua (ljbpf) integer division of numbers: truncates toward zero. */
static __always_inline long ldiv(long x, long d) {
  long s = x >> 63;
  unsigned long ax = (unsigned long)((x ^ s) - s);
  return (long)(ax / (unsigned long)d ^ s) - s;
}

char LICENSE[] SEC("license") = "GPL";
