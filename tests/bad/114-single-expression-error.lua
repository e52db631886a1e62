-- The whole file is one call that fails at build time.
error('this probe needs a newer kernel')
