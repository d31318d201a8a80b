"""The bundled demo: a small task and a scripted agent, recorded by `cab-trace demo`."""
