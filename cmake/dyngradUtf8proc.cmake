# Finds utf8proc (Debian: libutf8proc-dev), the Unicode library behind the BERT tokenizer of
# datasets/ (NFC/NFD normalisation, general categories, lower-case mappings), and defines the
# imported target dyngrad::utf8proc. Shared by dyngrad's own build and by its installed package
# config, which needs it because the static datasets library links it. Set
# DG_UTF8PROC_IMPORTED_GLOBAL to GLOBAL to make the target visible in every directory.
# utf8proc ships neither a CMake config nor, in Debian 12, a usable version in its .pc file, so it
# is found by its header and library.
if(TARGET dyngrad::utf8proc)
  return()
endif()

find_path(DG_UTF8PROC_INCLUDE utf8proc.h)
find_library(DG_UTF8PROC_LIBRARY NAMES utf8proc)
if(NOT DG_UTF8PROC_INCLUDE OR NOT DG_UTF8PROC_LIBRARY)
  set(DG_UTF8PROC_PROBLEM "utf8proc not found (library: '${DG_UTF8PROC_LIBRARY}', utf8proc.h: "
                          "'${DG_UTF8PROC_INCLUDE}'); install libutf8proc-dev")
else()
  set(DG_UTF8PROC_PROBLEM "")
  add_library(dyngrad::utf8proc UNKNOWN IMPORTED ${DG_UTF8PROC_IMPORTED_GLOBAL})
  set_target_properties(dyngrad::utf8proc PROPERTIES
                        IMPORTED_LOCATION "${DG_UTF8PROC_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${DG_UTF8PROC_INCLUDE}")
endif()
