# Install rules for the plugin SDK (headers, pkg-config file, CMake package) and the service's
# system files. The binary and the plugins install themselves (core/, gridems_add_plugin()).
include(CMakePackageConfigHelpers)

set(GRIDEMS_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/GridemsPlugin)

# The public headers: everything a plugin compiles against.
install(FILES ${PROJECT_SOURCE_DIR}/core/include/gridems/plugin.h
    ${PROJECT_SOURCE_DIR}/core/include/gridems/errors.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gridems)

# CMake package: GridemsPlugin::headers (an INTERFACE target: include dir only, a plugin links
# nothing from gridems) and gridems_add_plugin().
install(TARGETS gridems_plugin_headers EXPORT GridemsPluginTargets)
install(EXPORT GridemsPluginTargets NAMESPACE GridemsPlugin:: DESTINATION ${GRIDEMS_CMAKE_PACKAGE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/GridemsPluginConfig.cmake.in
    ${CMAKE_BINARY_DIR}/sdk/GridemsPluginConfig.cmake
    INSTALL_DESTINATION ${GRIDEMS_CMAKE_PACKAGE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/sdk/GridemsPluginConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_BINARY_DIR}/sdk/GridemsPluginConfig.cmake
    ${CMAKE_BINARY_DIR}/sdk/GridemsPluginConfigVersion.cmake
    DESTINATION ${GRIDEMS_CMAKE_PACKAGE_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/cmake/GridemsPlugin.cmake
    DESTINATION ${GRIDEMS_CMAKE_PACKAGE_DIR} RENAME GridemsPluginFunctions.cmake)

# pkg-config: relocatable (prefix from ${pcfiledir}), so `cmake --install --prefix P` works.
file(RELATIVE_PATH GRIDEMS_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" GRIDEMS_PC_TO_PREFIX "${GRIDEMS_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/gridems-plugin.pc.in ${CMAKE_BINARY_DIR}/sdk/gridems-plugin.pc
    @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/sdk/gridems-plugin.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The systemd unit (systemd looks in lib/systemd/system under /usr or /, never a multiarch
# libdir) and the example config, to etc/gridems/ (copy it to gridems.json and edit).
configure_file(${PROJECT_SOURCE_DIR}/contrib/systemd/gridems.service.in
    ${CMAKE_BINARY_DIR}/contrib/gridems.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/contrib/gridems.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/config/gridems.example.json
    DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/gridems)

# The guides the unit's Documentation= points at.
install(FILES ${PROJECT_SOURCE_DIR}/docs/plugins.md ${PROJECT_SOURCE_DIR}/docs/service.md
    DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/config/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
    RENAME config.md)
