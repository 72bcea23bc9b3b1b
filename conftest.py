pytest_plugins = ["intplat_devstack.pytest_plugin"]
