# Writes a C++ file defining `const char *motif::NAME()` that returns the text
# of IN (a file the compiler must carry, e.g. a CUDA header for NVRTC). Each
# `#include "runtime/..."` line (resolved against ROOT) is replaced by the
# text of that file, recursively and at every occurrence (X-macro tables are
# included more than once), without its whole-line comments: NVRTC sees one
# self-contained source.
function(motif_embed_expand path out)
  file(READ ${path} text)
  string(REGEX MATCHALL "\n#include \"runtime/[^\"]+\"" includes "${text}")
  list(REMOVE_DUPLICATES includes)
  foreach(inc IN LISTS includes)
    string(REGEX REPLACE "\n#include \"([^\"]+)\"" "\\1" file "${inc}")
    motif_embed_expand(${ROOT}/${file} body)
    string(REGEX REPLACE "(^|\n)[ \t]*//[^\n]*" "" body "${body}")
    string(REPLACE "${inc}" "\n// ${file}:\n${body}" text "${text}")
  endforeach()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

motif_embed_expand(${IN} text)
file(WRITE ${OUT} "// Generated from ${IN}; do not edit.\nnamespace motif {\nconst char *${NAME}() {\n  return R\"motif_embed(${text})motif_embed\";\n}\n} // namespace motif\n")
