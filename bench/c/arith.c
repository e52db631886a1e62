/* Twin of tests/corpus/arith.lua */
#include "common.h"
SEC("socket") int arith(struct __sk_buff *skb) {
  long a = load_byte(skb, 22); /* ip.ttl */
  long b = load_byte(skb, 15); /* ip.tos */
  long x = a + 7 - b * 3;
  long y = 100 - a;
  long z = a * b + ldiv(x, 2) - lmod(y, 7);
  long w = -z + 1000;
  long q = lmod(a - b, 5);
  return lmod(w, 256) + q;
}
