# Shared by the SunSpec plugins (battery_sunspec, meter_sunspec): each compiles the pure decoder,
# the Modbus link and the loop-side health helpers into its own shared object (hidden
# visibility keeps them private). Not a plugin itself: this directory has no CMakeLists.txt.
# libmodbus comes from Debian's libmodbus-dev; without it the SunSpec plugins are not built.
set(GRIDEMS_SUNSPEC_DIR ${CMAKE_CURRENT_LIST_DIR})
set(GRIDEMS_SUNSPEC_SOURCES ${CMAKE_CURRENT_LIST_DIR}/sunspec_decode.c
    ${CMAKE_CURRENT_LIST_DIR}/sunspec_link.c ${CMAKE_CURRENT_LIST_DIR}/sunspec_poll.c)

function(gridems_sunspec_plugin name)
    pkg_check_modules(LIBMODBUS IMPORTED_TARGET libmodbus)
    if(NOT LIBMODBUS_FOUND)
        message(WARNING "libmodbus not found (Debian: libmodbus-dev): ${name} is not built")
        return()
    endif()
    gridems_add_plugin(${name} SOURCES ${ARGN} ${GRIDEMS_SUNSPEC_SOURCES}
        LIBS PkgConfig::LIBMODBUS m)
    if(TARGET gridems_${name})
        target_include_directories(gridems_${name} PRIVATE ${GRIDEMS_SUNSPEC_DIR})
    endif()
endfunction()
