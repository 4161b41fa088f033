// The SDK scenario through the AWS SDK for JavaScript v3 (@aws-sdk/client-ecr-public): the same calls in the
// same order as scenario_botocore.py, printing the same JSON summary. NODE_PATH must reach the package.
// Environment: ENDPOINT, ACCESS_KEY, SECRET_KEY, IMAGE_DIR (see scenario_botocore.py); BODIES=stream sends
// every body as a stream: chunked transfer coding, "Expect: 100-continue" (node's handler then waits for the
// interim answer) and, the length being unknown to the signer, x-amz-content-sha256: UNSIGNED-PAYLOAD.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { Readable } = require("stream");
const sdk = require("@aws-sdk/client-ecr-public");

const env = process.env;
const DAY = 86400e3;
const read = (name) => fs.readFileSync(path.join(env.IMAGE_DIR, name));
const sha256 = (data) => "sha256:" + crypto.createHash("sha256").update(data).digest("hex");

function when(value) {
  if (value instanceof Date && Math.abs(value.getTime() - Date.now()) < DAY) return "date";
  return String(value) + " (" + typeof value + ")";
}

function failure(e) {
  const code = e.name;
  const out = {
    error: code,
    typed: typeof sdk[code] === "function" && e instanceof sdk[code] && e instanceof sdk.ECRPUBLICServiceException,
    status: e.$metadata ? e.$metadata.httpStatusCode : null,
    message: e.message,
  };
  if (e.lastValidByteReceived !== undefined) out.lastValidByteReceived = e.lastValidByteReceived;
  return out;
}

function catalog(data) {
  const out = {};
  for (const k of ["description", "aboutText", "usageText", "architectures", "operatingSystems", "logoUrl",
    "marketplaceCertified"]) {
    if (data[k] !== undefined) out[k] = data[k];
  }
  return out;
}

function client(accessKeyId = env.ACCESS_KEY, secretAccessKey = env.SECRET_KEY) {
  const stream = env.BODIES === "stream";
  // The streamed run takes its endpoint and region from the environment (AWS_ENDPOINT_URL_ECR_PUBLIC,
  // AWS_REGION), as a user pointing an unchanged program at the local endpoint would.
  const where = stream ? {} : { region: "us-east-1", endpoint: env.ENDPOINT };
  const c = new sdk.ECRPUBLIC({ ...where, maxAttempts: 1, credentials: { accessKeyId, secretAccessKey } });
  if (stream) {
    c.middlewareStack.addRelativeTo((next) => async (args) => {
      const req = args.request;
      const data = Buffer.from(req.body);
      delete req.headers["content-length"];
      req.headers["expect"] = "100-continue";
      const half = data.length >> 1;
      req.body = Readable.from([data.subarray(0, half), data.subarray(half)]);
      return next(args);
    }, { relation: "after", toMiddleware: "contentLengthMiddleware", name: "streamBodies" });
  }
  return c;
}

async function main() {
  const layer = read("layer.tar.gz");
  const config = read("config.json");
  const manifest = read("manifest.json").toString("utf8");
  const configOnly = read("manifest-config-only.json").toString("utf8");
  const logo = read("logo.png");
  const c = client();
  const out = {};

  async function step(name, fn) {
    try {
      out[name] = await fn();
    } catch (e) {
      if (!e.$metadata) throw e; // not an answer from the service: a bug in the scenario or the SDK
      out[name] = failure(e);
    }
  }

  async function pushBlob(repo, data) {
    const up = await c.initiateLayerUpload({ repositoryName: repo });
    const size = up.partSize;
    const received = [];
    for (let first = 0; first < data.length; first += size) {
      const part = data.subarray(first, first + size);
      const r = await c.uploadLayerPart({ repositoryName: repo, uploadId: up.uploadId, partFirstByte: first,
        partLastByte: first + part.length - 1, layerPartBlob: part });
      received.push(r.lastByteReceived);
    }
    const done = await c.completeLayerUpload({ repositoryName: repo, uploadId: up.uploadId,
      layerDigests: [sha256(data)] });
    return { partSize: size, lastByteReceived: received, layerDigest: done.layerDigest,
      uploadIdMatches: done.uploadId === up.uploadId };
  }

  await step("GetRegistryCatalogData.initial", async () => (await c.getRegistryCatalogData({})).registryCatalogData);
  await step("PutRegistryCatalogData", async () =>
    (await c.putRegistryCatalogData({ displayName: "SDK test" })).registryCatalogData);
  await step("GetRegistryCatalogData", async () => (await c.getRegistryCatalogData({})).registryCatalogData);
  await step("DescribeRegistries", async () => (await c.describeRegistries({})).registries.map((x) => ({
    registryId: x.registryId, registryArn: x.registryArn, registryUri: x.registryUri, verified: x.verified,
    aliases: x.aliases })));

  await step("CreateRepository", async () => {
    const r = await c.createRepository({ repositoryName: "app", catalogData: {
      description: "an app", aboutText: "# About", usageText: "docker pull", architectures: ["x86-64"],
      operatingSystems: ["Linux"], logoImageBlob: logo }, tags: [{ Key: "team", Value: "a" }] });
    const repo = r.repository;
    return { repositoryName: repo.repositoryName, repositoryUri: repo.repositoryUri,
      repositoryArn: repo.repositoryArn, registryId: repo.registryId, createdAt: when(repo.createdAt),
      catalogData: catalog(r.catalogData) };
  });
  await step("CreateRepository.again", () => c.createRepository({ repositoryName: "app" }));
  await step("CreateRepository.invalid", () => c.createRepository({ repositoryName: "Bad Name!" }));
  for (let i = 0; i < 5; i++) await c.createRepository({ repositoryName: `page-${i}` });

  await step("DescribeRepositories.paged", async () => {
    const repositories = [];
    let pages = 0;
    for await (const page of sdk.paginateDescribeRepositories({ client: c, pageSize: 2 }, {})) {
      pages += 1;
      for (const x of page.repositories) repositories.push([x.repositoryName, when(x.createdAt)]);
    }
    return { pages, repositories };
  });
  await step("DescribeRepositories.missing", () => c.describeRepositories({ repositoryNames: ["nope"] }));

  await step("GetAuthorizationToken", async () => {
    const data = (await c.getAuthorizationToken({})).authorizationData;
    const user = Buffer.from(data.authorizationToken, "base64").toString("utf8").split(":")[0];
    return { user, expiresAt: data.expiresAt instanceof Date && data.expiresAt.getTime() > Date.now() + 3600e3
      ? "future" : "past" };
  });

  await step("pushLayer", () => pushBlob("app", layer));
  await step("pushConfig", () => pushBlob("app", config));
  await step("pushLayer.again", () => pushBlob("app", layer));
  await step("UploadLayerPart.outOfOrder", async () => {
    const up = await c.initiateLayerUpload({ repositoryName: "app" });
    return c.uploadLayerPart({ repositoryName: "app", uploadId: up.uploadId, partFirstByte: 5, partLastByte: 7,
      layerPartBlob: Buffer.from("abc") });
  });

  await step("BatchCheckLayerAvailability", async () => {
    const r = await c.batchCheckLayerAvailability({ repositoryName: "app",
      layerDigests: [sha256(layer), sha256(config), "sha256:" + "1".repeat(64)] });
    return { layers: r.layers, failures: r.failures.map((f) => ({ layerDigest: f.layerDigest,
      failureCode: f.failureCode })) };
  });

  async function put(tag, text = manifest, repo = "app") {
    const img = (await c.putImage({ repositoryName: repo, imageManifest: text, imageTag: tag })).image;
    return { imageId: img.imageId, imageManifestMediaType: img.imageManifestMediaType,
      manifestMatches: img.imageManifest === text };
  }
  await step("PutImage", () => put("v1"));
  await step("PutImage.again", () => put("v1"));
  await step("PutImage.v2", () => put("v2"));
  await step("PutImage.missingLayers", () => put("v1", manifest, "page-1"));

  await step("DescribeImages", async () => (await c.describeImages({ repositoryName: "app" })).imageDetails.map(
    (d) => ({ imageDigest: d.imageDigest, imageTags: [...(d.imageTags || [])].sort(),
      imageSizeInBytes: d.imageSizeInBytes, imageManifestMediaType: d.imageManifestMediaType,
      artifactMediaType: d.artifactMediaType ?? null, imagePushedAt: when(d.imagePushedAt) })));
  await step("DescribeImageTags", async () => (await c.describeImageTags({ repositoryName: "app" })).imageTagDetails
    .map((t) => ({ imageTag: t.imageTag, createdAt: when(t.createdAt), imageDigest: t.imageDetail.imageDigest,
      imagePushedAt: when(t.imageDetail.imagePushedAt) })));

  const policy = JSON.stringify({ Version: "2012-10-17", Statement: [
    { Sid: "pull", Effect: "Allow", Principal: "*", Action: ["ecr-public:BatchCheckLayerAvailability"] }] });
  const policyOf = (r) => ({ repositoryName: r.repositoryName, policy: JSON.parse(r.policyText) });
  await step("SetRepositoryPolicy", async () =>
    policyOf(await c.setRepositoryPolicy({ repositoryName: "app", policyText: policy })));
  await step("GetRepositoryPolicy", async () => policyOf(await c.getRepositoryPolicy({ repositoryName: "app" })));
  await step("DeleteRepositoryPolicy", async () =>
    policyOf(await c.deleteRepositoryPolicy({ repositoryName: "app" })));
  await step("GetRepositoryPolicy.deleted", () => c.getRepositoryPolicy({ repositoryName: "app" }));

  await step("PutRepositoryCatalogData", async () => catalog((await c.putRepositoryCatalogData({
    repositoryName: "app", catalogData: { description: "changed", architectures: ["ARM 64"] } })).catalogData));
  await step("GetRepositoryCatalogData", async () =>
    catalog((await c.getRepositoryCatalogData({ repositoryName: "app" })).catalogData));

  const arn = "arn:aws:ecr-public::123456789012:repository/app";
  const tags = async () => (await c.listTagsForResource({ resourceArn: arn })).tags.map((t) => [t.Key, t.Value])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  await step("TagResource", async () => {
    await c.tagResource({ resourceArn: arn, tags: [{ Key: "env", Value: "ci" }] });
    return tags();
  });
  await step("UntagResource", async () => {
    await c.untagResource({ resourceArn: arn, tagKeys: ["team"] });
    return tags();
  });
  await step("ListTagsForResource.missing", () => c.listTagsForResource({
    resourceArn: "arn:aws:ecr-public::123456789012:repository/nope" }));

  await step("BatchDeleteImage", async () => {
    const r = await c.batchDeleteImage({ repositoryName: "app", imageIds: [{ imageTag: "v2" }, { imageTag: "gone" }] });
    return { imageIds: r.imageIds, failures: r.failures.map((f) => ({ imageId: f.imageId, failureCode: f.failureCode })) };
  });

  await step("PutImage.configOnly", async () => {
    await c.createRepository({ repositoryName: "doomed" });
    await pushBlob("doomed", config);
    return put("only", configOnly, "doomed");
  });
  await step("DeleteRepository.notEmpty", () => c.deleteRepository({ repositoryName: "doomed" }));
  await step("DeleteRepository.force", async () =>
    (await c.deleteRepository({ repositoryName: "doomed", force: true })).repository.repositoryName);
  await step("DeleteRepository.empty", async () =>
    (await c.deleteRepository({ repositoryName: "page-0" })).repository.repositoryName);
  await step("DeleteRepository.missing", () => c.deleteRepository({ repositoryName: "page-0" }));

  await step("Signature.wrongSecret", () => client(env.ACCESS_KEY, "not-the-secret").describeRegistries({}));
  await step("Signature.unknownKey", () => client("AKIDUNKNOWN", env.SECRET_KEY).describeRegistries({}));
  const r = await c.describeRegistries({});
  out.requestId = Boolean(r.$metadata.requestId);
  return out;
}

main().then((out) => {
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
}, (e) => {
  process.stderr.write(`scenario failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
