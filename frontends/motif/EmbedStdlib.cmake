# Writes a C++ file holding each standard-library .motif file as a string.
set(body "// Generated from frontends/motif/std/*.motif; do not edit.\n#include \"frontends/motif/Program.h\"\n\nconst std::vector<std::pair<const char *, const char *>> &motif::stdlibFiles() {\n  static const std::vector<std::pair<const char *, const char *>> files = {\n")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  file(READ ${f} text)
  string(APPEND body "    {\"std/${name}\", R\"motif_std(${text})motif_std\"},\n")
endforeach()
string(APPEND body "  };\n  return files;\n}\n")
file(WRITE ${OUT} "${body}")
