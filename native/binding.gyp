# Built by scripts/build-native.mjs, which finds a BLAS and passes its location in the environment.
{
  "targets": [
    {
      "target_name": "dlip_native",
      "sources": ["src/addon.cc", "src/kernels.cc"],
      "include_dirs": ["<!(node -p \"process.env.DLIP_BLAS_INCLUDE || ''\")"],
      "cflags_cc": ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-Wall"],
      "ldflags": ["-fopenmp", "-Wl,-rpath,<!(node -p \"process.env.DLIP_BLAS_LIBDIR || ''\")"],
      "libraries": ["-L<!(node -p \"process.env.DLIP_BLAS_LIBDIR || ''\")", "-lopenblas"]
    }
  ]
}
