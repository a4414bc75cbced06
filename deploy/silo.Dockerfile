# descent-silo in a container. Build from the repository root:
#   docker build -f deploy/silo.Dockerfile -t descent-silo .
# GPU image (TorchSharp-cuda-linux; needs the NVIDIA container toolkit at run time):
#   docker build -f deploy/silo.Dockerfile --build-arg BACKEND=cuda -t descent-silo:cuda .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG BACKEND=cpu
WORKDIR /src
COPY . .
RUN dotnet publish src/Silo -c Release -o /app -p:DescentBackend=${BACKEND}

FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /app
COPY --from=build /app .
# Published ports reach the container's interface, not its loopback: listen on all interfaces.
ENV Descent__ListenOnAllInterfaces=true
EXPOSE 11111 30000
ENTRYPOINT ["dotnet", "descent-silo.dll"]
