# gridems_add_plugin(<class>_<name> SOURCES ...)
# Builds gridems_<class>_<name>.so as a MODULE against the public plugin header only, with hidden
# visibility so that just the two entry points are exported. Gated by GRIDEMS_PLUGIN_<CLASS>_<NAME>.
function(gridems_add_plugin name)
    cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
    string(TOUPPER "GRIDEMS_PLUGIN_${name}" opt)
    option(${opt} "Build the ${name} plugin" ON)
    if(NOT ${opt})
        return()
    endif()
    set(target gridems_${name})
    add_library(${target} MODULE ${ARG_SOURCES})
    set_target_properties(${target} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/plugins)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/core/include)
    if(ARG_LIBS)
        target_link_libraries(${target} PRIVATE ${ARG_LIBS})
    endif()
endfunction()
