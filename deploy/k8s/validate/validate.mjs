// Validates rendered Kubernetes manifests offline against the Kubernetes OpenAPI schemas that the npm package
// kubernetes-models ships (wrong types, missing required fields, bad quantities and enum values).
//   kubectl kustomize deploy/k8s/overlays/gpu | node deploy/k8s/validate/validate.mjs
// Prints one line per object ("ok Kind/name" or "invalid Kind/name: ...") and exits 1 if any object is invalid or of
// a kind this script has no model for, 0 otherwise.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import * as models from "kubernetes-models";

// apiVersion "apps/v1" is models.apps.v1; "rbac.authorization.k8s.io/v1" is models.rbacAuthorizationK8sIo.v1;
// the core group "v1" is models.v1.
function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const name = group === "" ? version : group.replace(/\.([a-z])/g, (_, c) => c.toUpperCase()).replace(/\./g, "");
  const module = group === "" ? models.v1 : models[name]?.[version];
  return module?.[kind];
}

const text = readFileSync(process.argv[2] ?? 0, "utf8");
let failed = 0;
let count = 0;
for (const document of parseAllDocuments(text)) {
  if (document.errors.length > 0) {
    console.log(`invalid YAML: ${document.errors.map((e) => e.message).join("; ")}`);
    failed++;
    continue;
  }
  const object = document.toJS();
  if (object === null || object === undefined) continue;
  count++;
  const label = `${object.kind}/${object.metadata?.name}`;
  const Model = typeof object.apiVersion === "string" && typeof object.kind === "string" ? modelOf(object.apiVersion, object.kind) : undefined;
  if (!Model) {
    console.log(`invalid ${label}: no schema for apiVersion ${object.apiVersion}, kind ${object.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`ok ${label}`);
  } catch (error) {
    const details = (error.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
    console.log(`invalid ${label}: ${details || error.message}`);
    failed++;
  }
}
if (count === 0) {
  console.log("invalid: no objects");
  failed++;
}
process.exit(failed > 0 ? 1 : 0);
