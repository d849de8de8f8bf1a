# Shared by the simulated-device plugins (battery_sim, meter_sim, cluster_sim): the sources of
# the helpers every simulator compiles in, and the hook that makes the simulator test build them.
# Included by each simulator's CMakeLists.txt (variables are per directory, so no include guard).
set(GRIDEMS_SIM_COMMON_SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_common.c
    ${CMAKE_CURRENT_LIST_DIR}/sim_json.c ${CMAKE_CURRENT_LIST_DIR}/sim_files.c)
# The command protocol (sim_command.c), for the simulators that take commands (battery_sim,
# cluster_sim); meter_sim takes none.
set(GRIDEMS_SIM_COMMAND_SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_command.c)
set(GRIDEMS_SIM_COMMON_DIR ${CMAKE_CURRENT_LIST_DIR})

# gridems_sim_plugin_setup(<class>_<name>): after gridems_add_plugin(), give the plugin the
# shared headers, and make tests/plugins/test_sim_plugins.c (which dlopens the .so) depend on it.
# The test target is created later (tests/ is added after plugins/), so the dependency is added
# by a call deferred to the end of the top-level directory.
function(gridems_sim_plugin_setup name)
    set(target gridems_${name})
    if(NOT TARGET ${target})
        return()
    endif()
    target_include_directories(${target} PRIVATE ${GRIDEMS_SIM_COMMON_DIR})
    # EVAL substitutes the target name now rather than when the deferred call runs.
    set(code "cmake_language(DEFER DIRECTORY [[${PROJECT_SOURCE_DIR}]]
        CALL _gridems_sim_test_dep [[${target}]])")
    cmake_language(EVAL CODE "${code}")
endfunction()

function(_gridems_sim_test_dep target)
    if(TARGET test_sim_plugins)
        add_dependencies(test_sim_plugins ${target})
    endif()
endfunction()
