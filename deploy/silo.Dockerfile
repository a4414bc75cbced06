# descent-silo in a container. Build from the repository root:
#   docker build -f deploy/silo.Dockerfile -t descent-silo:cpu .
# GPU image (TorchSharp-cuda-linux, which carries libtorch's CUDA libraries; the node needs the NVIDIA driver and
# container toolkit, Kubernetes its device plugin):
#   docker build -f deploy/silo.Dockerfile --build-arg BACKEND=cuda -t descent-silo:cuda .
# The image copies what `dotnet publish src/Silo` writes; the tests publish the same output and start it
# (tests/Descent.Tests/Deploy/PublishedOutputTests.cs). Both stages use the same distribution, so the libstdc++ the
# build checks for TorchSharp's GLIBCXX requirement (build/TorchSharpNative.targets) is the one the silo runs with.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG BACKEND=cpu
WORKDIR /src
COPY . .
RUN dotnet publish src/Silo -c Release -o /app -p:DescentBackend=${BACKEND}

# ASP.NET Core's runtime: the silo serves its health probes with Kestrel (Descent:Health:Port).
FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# Published ports reach the container's interface, not its loopback: listen on all interfaces.
ENV Descent__ListenOnAllInterfaces=true
# What the NVIDIA container runtime mounts from the driver when the pod is given GPUs (ignored without them).
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility
EXPOSE 11111 30000 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "descent-silo.dll"]
