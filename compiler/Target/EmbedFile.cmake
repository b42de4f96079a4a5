# Writes a C++ file defining `const char *motif::NAME()` that returns the text
# of IN (a file the compiler must carry, e.g. a CUDA header for NVRTC).
file(READ ${IN} text)
file(WRITE ${OUT} "// Generated from ${IN}; do not edit.\nnamespace motif {\nconst char *${NAME}() {\n  return R\"motif_embed(${text})motif_embed\";\n}\n} // namespace motif\n")
