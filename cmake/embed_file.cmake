# Embed a file in the binary as a C array: cmake -DIN=FILE -DOUT=FILE.c -DNAME=symbol -P embed_file.cmake
# Gives `const char NAME[]` (the bytes, then a NUL) and `const size_t NAME_len` (without the NUL).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR len "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp" "/* Generated from ${IN} by cmake/embed_file.cmake; do not edit. */\n"
    "#include <stddef.h>\n"
    "extern const char ${NAME}[];\nextern const size_t ${NAME}_len;\n"
    "const char ${NAME}[] = {\n${bytes}0x00};\n"
    "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
