-- error({}) must not print a table address.
error({ code = 1 })
