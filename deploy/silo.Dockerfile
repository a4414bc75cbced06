# descent-silo in a container. Build from the repository root:
#   docker build -f deploy/silo.Dockerfile -t descent-silo:cpu .
# GPU image (TorchSharp-cuda-linux, which carries libtorch 2.10's CUDA 12.8 libraries; the node needs the NVIDIA driver
# 570.26 or newer and the container toolkit, Kubernetes its device plugin):
#   docker build -f deploy/silo.Dockerfile --build-arg BACKEND=cuda -t descent-silo:cuda .
# The image copies what `dotnet publish src/Silo` writes; the tests publish with this file's flags and start the output
# (tests/Descent.Tests/Deploy/PublishedOutputTests.cs). Both stages use the same distribution, so the libstdc++ the
# build checks for TorchSharp's GLIBCXX requirement (build/TorchSharpNative.targets) is the one the silo runs with.
ARG BACKEND=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG BACKEND
WORKDIR /src
COPY . .
RUN dotnet publish src/Silo -c Release -o /app -p:DescentBackend=${BACKEND}

# ASP.NET Core's runtime: the silo serves its health probes with Kestrel (Descent:Health:Port).
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime-cpu

FROM runtime-cpu AS runtime-cuda
# Where the driver's user-space libraries (libcuda.so.1, libnvidia-ml.so.1) are mounted when the pod is given GPUs:
# GKE's device plugin mounts them at /usr/local/nvidia (lib64), outside the loader's default path; the NVIDIA container
# toolkit (GPU operator, other clouds) puts them in /usr/lib/x86_64-linux-gnu, which the loader searches anyway.
ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib
# What the NVIDIA container runtime mounts from the driver (ignored without GPUs).
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM runtime-${BACKEND}
WORKDIR /app
COPY --from=build /app .
# Published ports reach the container's interface, not its loopback: listen on all interfaces.
ENV Descent__ListenOnAllInterfaces=true
EXPOSE 11111 30000 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "descent-silo.dll"]
