# gridems_add_plugin(<class>_<name> SOURCES ... [LIBS ...])
# Builds gridems_<class>_<name>.so as a MODULE against the public plugin header only
# (GridemsPlugin::headers), with hidden visibility so that just the entry points are exported,
# and installs it into <libdir>/gridems/plugins. Gated by the option GRIDEMS_PLUGIN_<CLASS>_<NAME>.
#
# One implementation for both uses:
#   - in the gridems tree (the top-level CMakeLists.txt includes this file), GridemsPlugin::headers
#     is created here from core/include;
#   - out of tree, find_package(GridemsPlugin) defines GridemsPlugin::headers from the installed
#     SDK (GridemsPluginTargets.cmake) and then includes this file.
# Variables read (all optional):
#   GRIDEMS_PLUGIN_OUTPUT_DIRECTORY  where the .so is built (default: the current binary dir);
#   GRIDEMS_PLUGIN_INSTALL_DIR       install destination (default: ${CMAKE_INSTALL_LIBDIR}/gridems/plugins).
include_guard(GLOBAL)
include(GNUInstallDirs)

if(NOT TARGET GridemsPlugin::headers)
    if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/../core/include/gridems/plugin.h)
        message(FATAL_ERROR "GridemsPlugin.cmake: no GridemsPlugin::headers target and no gridems "
            "source tree: use find_package(GridemsPlugin) outside the gridems tree")
    endif()
    add_library(gridems_plugin_headers INTERFACE)
    target_include_directories(gridems_plugin_headers INTERFACE
        $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}/../core/include>
        $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    set_target_properties(gridems_plugin_headers PROPERTIES EXPORT_NAME headers)
    add_library(GridemsPlugin::headers ALIAS gridems_plugin_headers)
endif()

function(gridems_add_plugin name)
    cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
    if(NOT name MATCHES "^[a-z0-9]+_[a-z0-9_]+$")
        message(FATAL_ERROR "gridems_add_plugin(${name}): the name must be <class>_<name> of [a-z0-9_]")
    endif()
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "gridems_add_plugin(${name}): no SOURCES")
    endif()
    string(TOUPPER "GRIDEMS_PLUGIN_${name}" opt)
    option(${opt} "Build the ${name} plugin" ON)
    if(NOT ${opt})
        return()
    endif()
    if(DEFINED GRIDEMS_PLUGIN_OUTPUT_DIRECTORY)
        set(outdir ${GRIDEMS_PLUGIN_OUTPUT_DIRECTORY})
    else()
        set(outdir ${CMAKE_CURRENT_BINARY_DIR})
    endif()
    if(DEFINED GRIDEMS_PLUGIN_INSTALL_DIR)
        set(destdir ${GRIDEMS_PLUGIN_INSTALL_DIR})
    else()
        set(destdir ${CMAKE_INSTALL_LIBDIR}/gridems/plugins)
    endif()
    set(target gridems_${name})
    add_library(${target} MODULE ${ARG_SOURCES})
    set_target_properties(${target} PROPERTIES PREFIX "" SUFFIX ".so" C_VISIBILITY_PRESET hidden
        CXX_VISIBILITY_PRESET hidden LIBRARY_OUTPUT_DIRECTORY ${outdir})
    target_link_libraries(${target} PRIVATE GridemsPlugin::headers)
    if(ARG_LIBS)
        target_link_libraries(${target} PRIVATE ${ARG_LIBS})
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${destdir})
endfunction()
