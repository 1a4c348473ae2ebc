// Curfew: the Azure Functions app (custom handler `curfew serve`) and everything it uses.
// Deploy into a resource group: see docs/deploy.md. Names of queues, the topic and app settings
// are checked against functions/*/function.json and the handler by
// cli/tests/functions_consistency.rs: change them together. `bash .ci/infra-check.sh` scans
// this folder with checkov; every finding is fixed or skipped inline with its reason.
targetScope = 'resourceGroup'

@description('Region for every resource (must offer Flex Consumption).')
param location string = resourceGroup().location

@description('Short prefix for resource names (letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param prefix string = 'curfew'

@description('Subscriptions Curfew governs (ids only). The compute role is assigned on each.')
param targetSubscriptionIds array = []

@description('Resource groups Curfew governs: [{ subscriptionId, resourceGroup }]. The compute role is assigned on each.')
param targetResourceGroups array = []

@description('HMAC key for signed dismiss links (base64 of 32 random bytes). Stored in Key Vault only.')
@secure()
param linkKey string

@description('Master key of activity-report signatures (docs/idle.md). Generated (two random GUIDs, 72 characters) unless given; stored in Key Vault only. Pass the current value on a redeploy to keep the instances\' keys valid (docs/deploy.md).')
@secure()
@minLength(32)
param activityKey string = '${newGuid()}${newGuid()}' // checkov:skip=CKV_AZURE_131:not a hardcoded value: the default is generated per deployment (newGuid), never a literal

@description('Fleet size (instances) above which Tick fans out one Evaluate message per workspace.')
param fanoutThreshold int = 200

@description('Log level of the handler: error, warn, info, debug, trace.')
param logLevel string = 'info'

@description('OTLP endpoint for OpenTelemetry export; empty turns export off.')
param otlpEndpoint string = ''

@description('Entra object ids allowed to dismiss any shutdown (ops); owners can always dismiss their own.')
param adminObjectIds array = []

@description('Client id of the Entra app registration that App Service Authentication signs owners and admins in with for the Schedules function (docs/functions.md). Sign-in is required on every route except Dismiss (signed tokens), ActivityReport (HMAC signatures) and Status (function key).')
param authClientId string

@description('Maximum instances of the function app.')
param maximumInstanceCount int = 40

@description('SMTP relay of owners\' emails (docs/notify.md): smtp.azurecomm.net (ACS), smtp.office365.com or smtp.sendgrid.net; empty: no email. Owners\' addresses come from Microsoft Graph: grant the identity User.Read.All (docs/deploy.md).')
param smtpHost string = ''

@description('SMTP AUTH user name (ACS: the SMTP username; Office 365: the mailbox; SendGrid: apikey).')
param smtpUsername string = ''

@description('SMTP AUTH password. Stored in Key Vault only.')
@secure()
param smtpPassword string = ''

@description('Sender of owners\' emails, an address the relay may send from (e.g. DoNotReply@<your ACS domain>).')
param emailFrom string = ''

@description('Email addresses told when no tick has completed for 10 minutes (the heartbeat alert); empty: the alert fires in Azure Monitor only.')
param alertEmails array = []

var suffix = uniqueString(resourceGroup().id, prefix)
var appName = '${prefix}-func-${suffix}'
var storageName = toLower(take('${prefix}st${suffix}', 24))
// Key Vault names are global, 3-24 characters: at most 9 of the prefix, 'kv' and the whole
// 13-character uniqueString of (resource group id, prefix), so 18-24 characters. Soft delete with
// purge protection keeps a deleted vault's name for 30 days (docs/deploy.md, "Key Vault").
var vaultName = toLower('${take(prefix, 9)}kv${suffix}')
var deploymentContainer = 'app-package'
var stateTable = 'curfew'
var queueNames = [
  'curfew-evaluate'
  'curfew-dismissals'
  'curfew-activity'
]
var eventsTopic = 'curfew-events'
// For-expressions rather than map() lambdas: the same arrays, and checkov's Bicep parser reads
// them (with `=>` lambdas it skipped the whole file silently; .ci/infra-check.sh guards this).
var subscriptionScopes = [for s in targetSubscriptionIds: '/subscriptions/${s}']
var resourceGroupScopes = [for g in targetResourceGroups: '/subscriptions/${g.subscriptionId}/resourceGroups/${g.resourceGroup}']
var scopes = concat(subscriptionScopes, resourceGroupScopes)

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---- identity -------------------------------------------------------------------------------
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${prefix}-id-${suffix}'
  location: location
}

// ---- storage: host state, deployment package, Curfew's state table ---------------------------
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  // Geo-redundant: the state table is Curfew's ledger (CKV_AZURE_206). Available in every region.
  sku: { name: 'Standard_GRS' }
  // checkov:skip=CKV_AZURE_35:no VNet in this template: the Flex app reaches storage over its public endpoint; shared keys and public blob access are off, access is Entra ID only
  // checkov:skip=CKV_AZURE_43:the name is computed (toLower, take 24, prefix + uniqueString) and checkov cannot evaluate it
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource table 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTable
}

// ---- Service Bus: work queues and the events topic -------------------------------------------
resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${prefix}-sb-${suffix}'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for q in queueNames: {
  parent: serviceBus
  name: q
  properties: {
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}]

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: serviceBus
  name: eventsTopic
  properties: {
    defaultMessageTimeToLive: 'P14D'
  }
}

// A subscription that keeps every event, so nothing is lost before consumers are wired.
resource auditSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: topic
  name: 'audit'
  properties: {
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
  }
}

// ---- monitoring ------------------------------------------------------------------------------
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${prefix}-log-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${prefix}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// The heartbeat: every completed evaluation logs a line starting "evaluated " (the Functions
// `Logs`, in Application Insights `traces`). No such line for 10 minutes means no tick has
// completed: the timer stopped, the host is down, or every tick fails. docs/operations.md.
resource alertGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmails)) {
  name: '${prefix}-ag-${suffix}'
  location: 'global'
  properties: {
    groupShortName: take(prefix, 12)
    enabled: true
    emailReceivers: [for (address, i) in alertEmails: {
      name: 'email-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

resource heartbeatAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${prefix}-no-tick-${suffix}'
  location: location
  properties: {
    displayName: 'Curfew: no tick completed for 10 minutes'
    description: 'No "evaluated" log line from the Curfew function app in 10 minutes: schedules are not being enforced. See docs/operations.md (heartbeat).'
    severity: 1
    enabled: true
    scopes: [ insights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT10M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message startswith "evaluated " | summarize ticks = count()'
          timeAggregation: 'Total'
          metricMeasureColumn: 'ticks'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: empty(alertEmails) ? [] : [ alertGroup.id ]
    }
  }
}

// ---- Key Vault: link-signing and activity keys -----------------------------------------------
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  // checkov:skip=CKV_AZURE_109:no VNet in this template: the platform resolves the app's Key Vault references over the public endpoint; access is RBAC (Entra ID) only
  // checkov:skip=CKV_AZURE_189:same reason as CKV_AZURE_109: disabling public access needs VNet integration and a private endpoint
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
  }
}

resource linkKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'curfew-link-key'
  // checkov:skip=CKV_AZURE_41:an expired secret breaks the app's Key Vault reference and stops Curfew; keys are rotated by redeploying (docs/deploy.md)
  properties: {
    value: linkKey
    contentType: 'HMAC-SHA256 key, base64'
  }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  parent: vault
  name: 'curfew-smtp-password'
  // checkov:skip=CKV_AZURE_41:an expired secret breaks the app's Key Vault reference and stops owners' emails; the password is rotated by redeploying (docs/deploy.md)
  // checkov:skip=CKV_AZURE_114:contentType is set below; checkov's Bicep parser does not read the properties of a conditional (if) resource
  properties: {
    value: smtpPassword
    contentType: 'SMTP AUTH password'
  }
}

resource activityKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'curfew-activity-key'
  // checkov:skip=CKV_AZURE_41:an expired secret breaks the app's Key Vault reference and stops Curfew; keys are rotated by redeploying (docs/deploy.md)
  properties: {
    value: activityKey
    contentType: 'HMAC-SHA256 master key of activity reports'
  }
}

// ---- the function app (Flex Consumption, Linux, custom handler) ------------------------------
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${prefix}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  // checkov:skip=CKV_AZURE_225:zone redundancy for Flex Consumption exists only in some regions and needs zone-redundant storage; the region is a parameter
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  // checkov:skip=CKV_AZURE_222:the HTTP functions (dismiss links opened in browsers, activity reports from compute instances, Status) must be reachable from the internet
  // checkov:skip=CKV_AZURE_17:dismiss links are opened in ordinary browsers; requests are authenticated by signed tokens, HMAC signatures and function keys, not client certificates
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales instances itself (down to zero); the check's numberOfWorkers does not apply and always-ready instances cost money for a timer-driven app
  // checkov:skip=CKV_AZURE_213:Flex Consumption replaces unhealthy instances itself; liveness is checked through the Status function (docs/deploy.md, First run)
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 512
      }
      runtime: { name: 'custom', version: '1.0' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'CURFEW_SERVICEBUS__fullyQualifiedNamespace', value: '${serviceBus.name}.servicebus.windows.net' }
        { name: 'CURFEW_SERVICEBUS__credential', value: 'managedidentity' }
        { name: 'CURFEW_SERVICEBUS__clientId', value: identity.properties.clientId }
        { name: 'CURFEW_FANOUT_THRESHOLD', value: string(fanoutThreshold) }
        { name: 'CURFEW_LOG', value: logLevel }
        { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: otlpEndpoint }
        { name: 'OTEL_SERVICE_NAME', value: 'curfew' }
        { name: 'CURFEW_SCOPES', value: join(scopes, ',') }
        { name: 'CURFEW_TABLE_ENDPOINT', value: storage.properties.primaryEndpoints.table }
        { name: 'CURFEW_LINK_KEY', value: '@Microsoft.KeyVault(SecretUri=${linkKeySecret.properties.secretUri})' }
        { name: 'CURFEW_ACTIVITY_KEY', value: '@Microsoft.KeyVault(SecretUri=${activityKeySecret.properties.secretUri})' }
        { name: 'CURFEW_PUBLIC_BASE_URL', value: 'https://${appName}.azurewebsites.net/api' }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'CURFEW_ARM_CREDENTIAL', value: 'managed-identity' }
        { name: 'CURFEW_DEPLOYMENT', value: prefix }
        { name: 'CURFEW_ADMINS', value: join(adminObjectIds, ',') }
        { name: 'CURFEW_EVENTS', value: 'binding' }
        { name: 'CURFEW_SMTP_HOST', value: smtpHost }
        { name: 'CURFEW_SMTP_USERNAME', value: smtpUsername }
        { name: 'CURFEW_SMTP_PASSWORD', value: empty(smtpPassword) ? '' : '@Microsoft.KeyVault(SecretUri=${smtpPasswordSecret!.properties.secretUri})' }
        { name: 'CURFEW_EMAIL_FROM', value: emailFrom }
      ]
    }
  }
  // Created only once its identity may use what it is configured with: before the Key Vault
  // role exists, the platform would pass the references' text through as the keys.
  dependsOn: [
    packageContainer
    queues
    table
    storageBlobOwner
    storageTableContributor
    busReceiver
    busSender
    busOwner
    vaultSecretsUser
    insightsPublisher
  ]
}

// App Service Authentication: sign-in required on every route except those authenticated
// otherwise (Dismiss: signed link tokens; ActivityReport: HMAC signatures; Status: the
// self-service page, opened by a signed owner link or by a signed-in owner, its fleet-wide
// views for admins only). It sets X-MS-CLIENT-PRINCIPAL-ID on the requests of a signed-in
// caller, and strips any such header a client sends, so Schedules and Status can take the
// caller from it (docs/functions.md).
resource appAuth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:enabled here by platform.enabled of authsettingsV2; the check reads the retired v1 schema only
  // checkov:skip=CKV_AZURE_66:a site check misapplied to authsettingsV2, which has no such setting
  // checkov:skip=CKV_AZURE_63:a site check misapplied to authsettingsV2, which has no such setting
  parent: app
  // checkov:skip=CKV_AZURE_222:a site check misapplied to authsettingsV2, which has no such setting
  // checkov:skip=CKV_AZURE_80:a site check misapplied to authsettingsV2, which has no such setting
  // checkov:skip=CKV_AZURE_88:a site check misapplied to authsettingsV2, which has no such setting
  name: 'authsettingsV2'
  // checkov:skip=CKV_AZURE_65:a site check misapplied to authsettingsV2, which has no such setting
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [ '/api/Dismiss', '/api/ActivityReport', '/api/Status' ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [ 'api://${authClientId}', authClientId ] }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

// ---- least-privilege role assignments for the app's identity ---------------------------------
// Host storage (leases, timer monitor) and the deployment package.
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Curfew's state store (ledger, dismissals, activity) in Table Storage.
resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource busReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, identity.id, roles.serviceBusDataReceiver)
  scope: serviceBus
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
  }
}

resource busSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, identity.id, roles.serviceBusDataSender)
  scope: serviceBus
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
  }
}

// The Flex Consumption scale controller reads the queues' message counts with the app's identity
// to decide how many instances to run: that is a management read (entity runtime properties),
// which the Data Receiver and Sender roles do not grant. Microsoft's Flex Consumption Service Bus
// sample grants Azure Service Bus Data Owner on the namespace for this; so does Curfew.
resource busOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, identity.id, roles.serviceBusDataOwner)
  scope: serviceBus
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
  }
}

resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource insightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---- the compute role on the target scopes ---------------------------------------------------
module computeRole 'modules/compute-role.bicep' = {
  name: 'curfew-compute-role'
  scope: subscription()
  params: {
    roleName: 'Curfew compute operator (${prefix}-${suffix})'
    assignableScopes: union([subscription().id], scopes)
  }
}

module subscriptionAccess 'modules/compute-access-subscription.bicep' = [for s in targetSubscriptionIds: {
  name: 'curfew-access-${uniqueString(s)}'
  scope: subscription(s)
  params: {
    principalId: identity.properties.principalId
    roleDefinitionId: computeRole.outputs.roleDefinitionId
  }
}]

module resourceGroupAccess 'modules/compute-access-resource-group.bicep' = [for g in targetResourceGroups: {
  name: 'curfew-access-${uniqueString(g.subscriptionId, g.resourceGroup)}'
  scope: resourceGroup(g.subscriptionId, g.resourceGroup)
  params: {
    principalId: identity.properties.principalId
    roleDefinitionId: computeRole.outputs.roleDefinitionId
  }
}]

output functionAppName string = app.name
output statusUrl string = 'https://${app.properties.defaultHostName}/api/Status'
output serviceBusNamespace string = serviceBus.name
output identityClientId string = identity.properties.clientId
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
