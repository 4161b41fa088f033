// The SDK scenario through the AWS SDK for Go v1 (service/ecrpublic): the same calls in the same order as
// scenario_botocore.py, printing the same JSON summary. Built in GOPATH mode against Debian's
// golang-github-aws-aws-sdk-go-dev. Environment: ENDPOINT, ACCESS_KEY, SECRET_KEY, IMAGE_DIR.
package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/ecrpublic"
	kit "scenariokit"
)

type obj = kit.Obj

// failure is an error as every scenario reports it; typed means the SDK returned *ecrpublic.<Code>.
func failure(err error) obj {
	aerr, ok := err.(awserr.Error)
	if !ok {
		panic(err)
	}
	o := obj{"error": aerr.Code(), "message": aerr.Message(),
		"typed": reflect.TypeOf(err).String() == "*ecrpublic."+aerr.Code()}
	if rf, ok := err.(awserr.RequestFailure); ok {
		o["status"] = rf.StatusCode()
	}
	if e, ok := err.(*ecrpublic.InvalidLayerPartException); ok && e.LastValidByteReceived != nil {
		o["lastValidByteReceived"] = *e.LastValidByteReceived
	}
	return o
}

func client(accessKey, secretKey string) *ecrpublic.ECRPublic {
	sess := session.Must(session.NewSession(&aws.Config{
		Region:      aws.String("us-east-1"),
		Endpoint:    aws.String(os.Getenv("ENDPOINT")),
		Credentials: credentials.NewStaticCredentials(accessKey, secretKey, ""),
		MaxRetries:  aws.Int(0),
	}))
	c := ecrpublic.New(sess)
	c.Handlers.Build.PushBack(expectContinue)
	return c
}

// expectContinue asks for "100 Continue" before bodies over 2 MB, as the SDK does for S3 PUTs; the
// header is then among the signed ones (this SDK signs every header but Authorization, User-Agent and
// X-Amzn-Trace-Id).
func expectContinue(r *request.Request) {
	if n, err := aws.SeekerLen(r.GetBody()); err == nil && n > 2*1024*1024 {
		r.HTTPRequest.Header.Set("Expect", "100-continue")
	}
}

func catalog(d *ecrpublic.RepositoryCatalogData) obj {
	o := obj{}
	if d.Description != nil {
		o["description"] = *d.Description
	}
	if d.AboutText != nil {
		o["aboutText"] = *d.AboutText
	}
	if d.UsageText != nil {
		o["usageText"] = *d.UsageText
	}
	if d.Architectures != nil {
		o["architectures"] = aws.StringValueSlice(d.Architectures)
	}
	if d.OperatingSystems != nil {
		o["operatingSystems"] = aws.StringValueSlice(d.OperatingSystems)
	}
	if d.LogoUrl != nil {
		o["logoUrl"] = *d.LogoUrl
	}
	if d.MarketplaceCertified != nil {
		o["marketplaceCertified"] = *d.MarketplaceCertified
	}
	return o
}

func imageID(id *ecrpublic.ImageIdentifier) obj {
	o := obj{}
	if id.ImageDigest != nil {
		o["imageDigest"] = *id.ImageDigest
	}
	if id.ImageTag != nil {
		o["imageTag"] = *id.ImageTag
	}
	return o
}

func main() {
	env := os.Getenv
	summary := kit.New(failure)
	step := summary.Step
	layer, config := kit.Read("layer.tar.gz"), kit.Read("config.json")
	manifest, configOnly := string(kit.Read("manifest.json")), string(kit.Read("manifest-config-only.json"))
	logo := kit.Read("logo.png")
	c := client(env("ACCESS_KEY"), env("SECRET_KEY"))
	s := aws.String

	pushBlob := func(repo string, data []byte) (interface{}, error) {
		up, err := c.InitiateLayerUpload(&ecrpublic.InitiateLayerUploadInput{RepositoryName: s(repo)})
		if err != nil {
			return nil, err
		}
		size := *up.PartSize
		received := []int64{}
		for first := int64(0); first < int64(len(data)); first += size {
			end := first + size
			if end > int64(len(data)) {
				end = int64(len(data))
			}
			r, err := c.UploadLayerPart(&ecrpublic.UploadLayerPartInput{RepositoryName: s(repo), UploadId: up.UploadId,
				PartFirstByte: aws.Int64(first), PartLastByte: aws.Int64(end - 1), LayerPartBlob: data[first:end]})
			if err != nil {
				return nil, err
			}
			received = append(received, *r.LastByteReceived)
		}
		done, err := c.CompleteLayerUpload(&ecrpublic.CompleteLayerUploadInput{RepositoryName: s(repo),
			UploadId: up.UploadId, LayerDigests: []*string{s(kit.Digest(data))}})
		if err != nil {
			return nil, err
		}
		return obj{"partSize": size, "lastByteReceived": received, "layerDigest": *done.LayerDigest,
			"uploadIdMatches": *done.UploadId == *up.UploadId}, nil
	}

	registryCatalog := func(d *ecrpublic.RegistryCatalogData) obj {
		return obj{"displayName": aws.StringValue(d.DisplayName)}
	}
	step("GetRegistryCatalogData.initial", func() (interface{}, error) {
		r, err := c.GetRegistryCatalogData(&ecrpublic.GetRegistryCatalogDataInput{})
		if err != nil {
			return nil, err
		}
		return registryCatalog(r.RegistryCatalogData), nil
	})
	step("PutRegistryCatalogData", func() (interface{}, error) {
		r, err := c.PutRegistryCatalogData(&ecrpublic.PutRegistryCatalogDataInput{DisplayName: s("SDK test")})
		if err != nil {
			return nil, err
		}
		return registryCatalog(r.RegistryCatalogData), nil
	})
	step("GetRegistryCatalogData", func() (interface{}, error) {
		r, err := c.GetRegistryCatalogData(&ecrpublic.GetRegistryCatalogDataInput{})
		if err != nil {
			return nil, err
		}
		return registryCatalog(r.RegistryCatalogData), nil
	})
	step("DescribeRegistries", func() (interface{}, error) {
		r, err := c.DescribeRegistries(&ecrpublic.DescribeRegistriesInput{})
		if err != nil {
			return nil, err
		}
		regs := []obj{}
		for _, x := range r.Registries {
			aliases := []obj{}
			for _, a := range x.Aliases {
				aliases = append(aliases, obj{"name": *a.Name, "status": *a.Status,
					"primaryRegistryAlias": *a.PrimaryRegistryAlias, "defaultRegistryAlias": *a.DefaultRegistryAlias})
			}
			regs = append(regs, obj{"registryId": *x.RegistryId, "registryArn": *x.RegistryArn,
				"registryUri": *x.RegistryUri, "verified": *x.Verified, "aliases": aliases})
		}
		return regs, nil
	})

	step("CreateRepository", func() (interface{}, error) {
		r, err := c.CreateRepository(&ecrpublic.CreateRepositoryInput{RepositoryName: s("app"),
			CatalogData: &ecrpublic.RepositoryCatalogDataInput{Description: s("an app"), AboutText: s("# About"),
				UsageText: s("docker pull"), Architectures: []*string{s("x86-64")},
				OperatingSystems: []*string{s("Linux")}, LogoImageBlob: logo},
			Tags: []*ecrpublic.Tag{{Key: s("team"), Value: s("a")}}})
		if err != nil {
			return nil, err
		}
		repo := r.Repository
		return obj{"repositoryName": *repo.RepositoryName, "repositoryUri": *repo.RepositoryUri,
			"repositoryArn": *repo.RepositoryArn, "registryId": *repo.RegistryId, "createdAt": kit.When(repo.CreatedAt),
			"catalogData": catalog(r.CatalogData)}, nil
	})
	step("CreateRepository.again", func() (interface{}, error) {
		return c.CreateRepository(&ecrpublic.CreateRepositoryInput{RepositoryName: s("app")})
	})
	step("CreateRepository.invalid", func() (interface{}, error) {
		return c.CreateRepository(&ecrpublic.CreateRepositoryInput{RepositoryName: s("Bad Name!")})
	})
	for i := 0; i < 5; i++ {
		if _, err := c.CreateRepository(&ecrpublic.CreateRepositoryInput{RepositoryName: s(fmt.Sprintf("page-%d", i))}); err != nil {
			panic(err)
		}
	}
	step("DescribeRepositories.paged", func() (interface{}, error) {
		pages, repos := 0, [][]string{}
		err := c.DescribeRepositoriesPages(&ecrpublic.DescribeRepositoriesInput{MaxResults: aws.Int64(2)},
			func(page *ecrpublic.DescribeRepositoriesOutput, last bool) bool {
				pages++
				for _, x := range page.Repositories {
					repos = append(repos, []string{*x.RepositoryName, kit.When(x.CreatedAt)})
				}
				return true
			})
		if err != nil {
			return nil, err
		}
		return obj{"pages": pages, "repositories": repos}, nil
	})
	step("DescribeRepositories.missing", func() (interface{}, error) {
		return c.DescribeRepositories(&ecrpublic.DescribeRepositoriesInput{RepositoryNames: []*string{s("nope")}})
	})

	step("GetAuthorizationToken", func() (interface{}, error) {
		r, err := c.GetAuthorizationToken(&ecrpublic.GetAuthorizationTokenInput{})
		if err != nil {
			return nil, err
		}
		raw, err := base64.StdEncoding.DecodeString(*r.AuthorizationData.AuthorizationToken)
		if err != nil {
			return nil, err
		}
		expires := kit.Expiry(r.AuthorizationData.ExpiresAt)
		return obj{"user": strings.SplitN(string(raw), ":", 2)[0], "expiresAt": expires}, nil
	})

	step("pushLayer", func() (interface{}, error) { return pushBlob("app", layer) })
	step("pushConfig", func() (interface{}, error) { return pushBlob("app", config) })
	step("pushLayer.again", func() (interface{}, error) { return pushBlob("app", layer) })
	step("UploadLayerPart.outOfOrder", func() (interface{}, error) {
		up, err := c.InitiateLayerUpload(&ecrpublic.InitiateLayerUploadInput{RepositoryName: s("app")})
		if err != nil {
			return nil, err
		}
		return c.UploadLayerPart(&ecrpublic.UploadLayerPartInput{RepositoryName: s("app"), UploadId: up.UploadId,
			PartFirstByte: aws.Int64(5), PartLastByte: aws.Int64(7), LayerPartBlob: []byte("abc")})
	})

	step("BatchCheckLayerAvailability", func() (interface{}, error) {
		r, err := c.BatchCheckLayerAvailability(&ecrpublic.BatchCheckLayerAvailabilityInput{RepositoryName: s("app"),
			LayerDigests: []*string{s(kit.Digest(layer)), s(kit.Digest(config)), s("sha256:" + strings.Repeat("1", 64))}})
		if err != nil {
			return nil, err
		}
		layers, failures := []obj{}, []obj{}
		for _, l := range r.Layers {
			layers = append(layers, obj{"layerDigest": *l.LayerDigest, "layerAvailability": *l.LayerAvailability,
				"layerSize": *l.LayerSize})
		}
		for _, f := range r.Failures {
			failures = append(failures, obj{"layerDigest": *f.LayerDigest, "failureCode": *f.FailureCode})
		}
		return obj{"layers": layers, "failures": failures}, nil
	})

	put := func(tag, text, repo string) (interface{}, error) {
		r, err := c.PutImage(&ecrpublic.PutImageInput{RepositoryName: s(repo), ImageManifest: s(text), ImageTag: s(tag)})
		if err != nil {
			return nil, err
		}
		return obj{"imageId": imageID(r.Image.ImageId), "imageManifestMediaType": *r.Image.ImageManifestMediaType,
			"manifestMatches": *r.Image.ImageManifest == text}, nil
	}
	step("PutImage", func() (interface{}, error) { return put("v1", manifest, "app") })
	step("PutImage.again", func() (interface{}, error) { return put("v1", manifest, "app") })
	step("PutImage.v2", func() (interface{}, error) { return put("v2", manifest, "app") })
	step("PutImage.missingLayers", func() (interface{}, error) { return put("v1", manifest, "page-1") })

	step("DescribeImages", func() (interface{}, error) {
		r, err := c.DescribeImages(&ecrpublic.DescribeImagesInput{RepositoryName: s("app")})
		if err != nil {
			return nil, err
		}
		images := []obj{}
		for _, d := range r.ImageDetails {
			tags := aws.StringValueSlice(d.ImageTags)
			sort.Strings(tags)
			var artifact interface{}
			if d.ArtifactMediaType != nil {
				artifact = *d.ArtifactMediaType
			}
			images = append(images, obj{"imageDigest": *d.ImageDigest, "imageTags": tags,
				"imageSizeInBytes": *d.ImageSizeInBytes, "imageManifestMediaType": *d.ImageManifestMediaType,
				"artifactMediaType": artifact, "imagePushedAt": kit.When(d.ImagePushedAt)})
		}
		return images, nil
	})
	step("DescribeImageTags", func() (interface{}, error) {
		r, err := c.DescribeImageTags(&ecrpublic.DescribeImageTagsInput{RepositoryName: s("app")})
		if err != nil {
			return nil, err
		}
		tags := []obj{}
		for _, t := range r.ImageTagDetails {
			tags = append(tags, obj{"imageTag": *t.ImageTag, "createdAt": kit.When(t.CreatedAt),
				"imageDigest": *t.ImageDetail.ImageDigest, "imagePushedAt": kit.When(t.ImageDetail.ImagePushedAt)})
		}
		return tags, nil
	})

	policy := `{"Version": "2012-10-17", "Statement": [{"Sid": "pull", "Effect": "Allow", "Principal": "*", ` +
		`"Action": ["ecr-public:BatchCheckLayerAvailability"]}]}`
	step("SetRepositoryPolicy", func() (interface{}, error) {
		r, err := c.SetRepositoryPolicy(&ecrpublic.SetRepositoryPolicyInput{RepositoryName: s("app"), PolicyText: s(policy)})
		if err != nil {
			return nil, err
		}
		return kit.Policy(r.RepositoryName, r.PolicyText)
	})
	step("GetRepositoryPolicy", func() (interface{}, error) {
		r, err := c.GetRepositoryPolicy(&ecrpublic.GetRepositoryPolicyInput{RepositoryName: s("app")})
		if err != nil {
			return nil, err
		}
		return kit.Policy(r.RepositoryName, r.PolicyText)
	})
	step("DeleteRepositoryPolicy", func() (interface{}, error) {
		r, err := c.DeleteRepositoryPolicy(&ecrpublic.DeleteRepositoryPolicyInput{RepositoryName: s("app")})
		if err != nil {
			return nil, err
		}
		return kit.Policy(r.RepositoryName, r.PolicyText)
	})
	step("GetRepositoryPolicy.deleted", func() (interface{}, error) {
		return c.GetRepositoryPolicy(&ecrpublic.GetRepositoryPolicyInput{RepositoryName: s("app")})
	})

	step("PutRepositoryCatalogData", func() (interface{}, error) {
		r, err := c.PutRepositoryCatalogData(&ecrpublic.PutRepositoryCatalogDataInput{RepositoryName: s("app"),
			CatalogData: &ecrpublic.RepositoryCatalogDataInput{Description: s("changed"),
				Architectures: []*string{s("ARM 64")}}})
		if err != nil {
			return nil, err
		}
		return catalog(r.CatalogData), nil
	})
	step("GetRepositoryCatalogData", func() (interface{}, error) {
		r, err := c.GetRepositoryCatalogData(&ecrpublic.GetRepositoryCatalogDataInput{RepositoryName: s("app")})
		if err != nil {
			return nil, err
		}
		return catalog(r.CatalogData), nil
	})

	arn := "arn:aws:ecr-public::123456789012:repository/app"
	tags := func() (interface{}, error) {
		r, err := c.ListTagsForResource(&ecrpublic.ListTagsForResourceInput{ResourceArn: s(arn)})
		if err != nil {
			return nil, err
		}
		pairs := [][]string{}
		for _, t := range r.Tags {
			pairs = append(pairs, []string{*t.Key, *t.Value})
		}
		return kit.SortedPairs(pairs), nil
	}
	step("TagResource", func() (interface{}, error) {
		if _, err := c.TagResource(&ecrpublic.TagResourceInput{ResourceArn: s(arn),
			Tags: []*ecrpublic.Tag{{Key: s("env"), Value: s("ci")}}}); err != nil {
			return nil, err
		}
		return tags()
	})
	step("UntagResource", func() (interface{}, error) {
		if _, err := c.UntagResource(&ecrpublic.UntagResourceInput{ResourceArn: s(arn),
			TagKeys: []*string{s("team")}}); err != nil {
			return nil, err
		}
		return tags()
	})
	step("ListTagsForResource.missing", func() (interface{}, error) {
		return c.ListTagsForResource(&ecrpublic.ListTagsForResourceInput{
			ResourceArn: s("arn:aws:ecr-public::123456789012:repository/nope")})
	})

	step("BatchDeleteImage", func() (interface{}, error) {
		r, err := c.BatchDeleteImage(&ecrpublic.BatchDeleteImageInput{RepositoryName: s("app"),
			ImageIds: []*ecrpublic.ImageIdentifier{{ImageTag: s("v2")}, {ImageTag: s("gone")}}})
		if err != nil {
			return nil, err
		}
		ids, failures := []obj{}, []obj{}
		for _, id := range r.ImageIds {
			ids = append(ids, imageID(id))
		}
		for _, f := range r.Failures {
			failures = append(failures, obj{"imageId": imageID(f.ImageId), "failureCode": *f.FailureCode})
		}
		return obj{"imageIds": ids, "failures": failures}, nil
	})

	step("PutImage.configOnly", func() (interface{}, error) {
		if _, err := c.CreateRepository(&ecrpublic.CreateRepositoryInput{RepositoryName: s("doomed")}); err != nil {
			return nil, err
		}
		if _, err := pushBlob("doomed", config); err != nil {
			return nil, err
		}
		return put("only", configOnly, "doomed")
	})
	deleteRepo := func(name string, force bool) (interface{}, error) {
		r, err := c.DeleteRepository(&ecrpublic.DeleteRepositoryInput{RepositoryName: s(name), Force: aws.Bool(force)})
		if err != nil {
			return nil, err
		}
		return *r.Repository.RepositoryName, nil
	}
	step("DeleteRepository.notEmpty", func() (interface{}, error) { return deleteRepo("doomed", false) })
	step("DeleteRepository.force", func() (interface{}, error) { return deleteRepo("doomed", true) })
	step("DeleteRepository.empty", func() (interface{}, error) { return deleteRepo("page-0", false) })
	step("DeleteRepository.missing", func() (interface{}, error) { return deleteRepo("page-0", false) })

	step("Signature.wrongSecret", func() (interface{}, error) {
		return client(env("ACCESS_KEY"), "not-the-secret").DescribeRegistries(&ecrpublic.DescribeRegistriesInput{})
	})
	step("Signature.unknownKey", func() (interface{}, error) {
		return client("AKIDUNKNOWN", env("SECRET_KEY")).DescribeRegistries(&ecrpublic.DescribeRegistriesInput{})
	})
	req, _ := c.DescribeRegistriesRequest(&ecrpublic.DescribeRegistriesInput{})
	if err := req.Send(); err != nil {
		panic(err)
	}
	summary.Set("requestId", req.RequestID != "")

	summary.Print()
}
